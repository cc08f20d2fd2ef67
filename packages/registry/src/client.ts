/**
 * One registry host, spoken to over the distribution API (OCI distribution spec v1.1 / Docker
 * Registry HTTP API v2) with Node's http/https: keep-alive connections shared by parallel blob
 * streams, bodies as Node streams, redirects followed by hand so the Authorization header never
 * follows a blob to other storage.
 */
import type { Readable } from "node:stream";

import { basicHeader, parseChallenge, tokenUrl, type Challenge, type Credentials } from "./auth.js";
import { networkReason, RegistryError, specError, UnauthorizedError, UnreachableError } from "./errors.js";
import { send, transport, type Method, type Response, type Transport } from "./transport.js";

/** Every manifest kind a registry may serve, in the Accept header Docker sends. */
export const MEDIA_TYPES = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
} as const;
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(", ");

export interface ClientOptions {
  credentials?: Credentials | undefined;
  /** Hosts to treat as insecure besides 127.0.0.0/8 and BOX_INSECURE_REGISTRIES. */
  insecureRegistries?: readonly string[];
  userAgent?: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** Docker-Content-Digest as the registry sent it, if it did. */
  headerDigest: string | undefined;
}

interface Req {
  method: Method;
  /** Path under the host (`/v2/...`) or an absolute URL (an upload Location, a redirect). */
  url: string;
  scopes: readonly string[];
  headers?: Record<string, string>;
  body?: Buffer | Readable | null;
  /** Statuses that are an answer rather than an error. */
  ok: readonly number[];
  /** Say what was asked for in errors: "manifest x:y", "blob sha256:...". */
  what: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class RegistryClient {
  readonly host: string;
  private readonly t: Transport;
  private readonly creds: Credentials | undefined;
  private readonly userAgent: string;
  private challenge: Challenge | null | undefined;
  private pinged: Promise<void> | undefined;
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(host: string, opts: ClientOptions = {}) {
    this.host = host;
    this.t = transport(host, opts.insecureRegistries ?? []);
    this.creds = opts.credentials;
    this.userAgent = opts.userAgent ?? "box/0.1";
  }

  async close(): Promise<void> {
    await this.t.close();
  }

  /**
   * GET /v2/: settles the scheme (insecure registries fall back from TLS to HTTP) and learns the
   * auth challenge. Done once per client; every request awaits it.
   */
  ping(): Promise<void> {
    this.pinged ??= (async () => {
      let res: Response | undefined;
      let text = "";
      try {
        res = await this.raw("GET", `${this.t.base()}/v2/`, {});
        text = await res.body.text();
      } catch (e) {
        if (!this.t.insecure) throw new UnreachableError(`${this.t.base()}/v2/`, e);
      }
      // An insecure registry asked in plain HTTP that is really TLS: Go's server answers 400
      // ("Client sent an HTTP request to an HTTPS server") or drops the connection.
      if (this.t.insecure && this.t.scheme === "http" && (res === undefined || res.statusCode === 400)) {
        this.t.scheme = "https";
        try {
          res = await this.raw("GET", `${this.t.base()}/v2/`, {});
          text = await res.body.text();
        } catch (e2) {
          throw new UnreachableError(`${this.t.base().replace(/^https/, "http")}/v2/`, e2);
        }
      }
      if (res === undefined) throw new Error("internal: no answer to GET /v2/");
      if (res.statusCode === 401) {
        this.challenge = parseChallenge(header(res, "www-authenticate")) ?? null;
        if (this.challenge === null) throw new RegistryError(`${this.host}: 401 without a usable WWW-Authenticate challenge`, { status: 401 });
      } else if (res.statusCode === 200) {
        this.challenge = null;
      } else {
        // Some registries answer 404 here; carry on without auth and let each request say.
        this.challenge = null;
        if (res.statusCode >= 500) throw new RegistryError(`${this.host}: GET /v2/: ${res.statusCode} ${text.slice(0, 200).trim()}`, { status: res.statusCode });
      }
    })();
    return this.pinged;
  }

  /**
   * Check the credentials this client was given (`box login`): a Bearer registry must hand out a
   * token for them, a Basic one must accept them on /v2/.
   */
  async verifyLogin(): Promise<void> {
    await this.ping();
    if (this.challenge === null) return;
    if (this.challenge?.scheme === "bearer") {
      await this.token([]);
      return;
    }
    const res = await this.raw("GET", `${this.t.base()}/v2/`, this.creds ? { authorization: basicHeader(this.creds) } : {});
    await res.body.dump();
    if (res.statusCode === 401) throw new UnauthorizedError(this.host, this.creds !== undefined);
  }

  // ---- manifests --------------------------------------------------------------------------------

  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    const res = await this.send({
      method: "GET",
      url: `/v2/${repo}/manifests/${reference}`,
      scopes: [`repository:${repo}:pull`],
      headers: { accept: MANIFEST_ACCEPT },
      ok: [200],
      what: `manifest for ${this.host}/${repo}${reference.startsWith("sha256:") ? "@" : ":"}${reference}`,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const mediaType = (header(res, "content-type") ?? "").split(";")[0]?.trim() ?? "";
    return { bytes, mediaType, headerDigest: header(res, "docker-content-digest") };
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.send({
      method: "PUT",
      url: `/v2/${repo}/manifests/${reference}`,
      scopes: [`repository:${repo}:pull,push`],
      headers: { "content-type": mediaType },
      body: bytes,
      ok: [201, 200, 202],
      what: `manifest ${this.host}/${repo}:${reference}`,
    });
    await res.body.dump();
    return header(res, "docker-content-digest");
  }

  // ---- blobs ------------------------------------------------------------------------------------

  /** The blob's bytes as a stream (redirects followed); the caller verifies digest and size. */
  async getBlob(repo: string, digest: string): Promise<{ body: Readable; length: number | undefined }> {
    const res = await this.send({ method: "GET", url: `/v2/${repo}/blobs/${digest}`, scopes: [`repository:${repo}:pull`], ok: [200], what: `blob ${digest}` });
    const len = header(res, "content-length");
    return { body: res.body, length: len !== undefined ? Number(len) : undefined };
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.send({ method: "HEAD", url: `/v2/${repo}/blobs/${digest}`, scopes: [`repository:${repo}:pull,push`], ok: [200, 404], what: `blob ${digest}` });
    await res.body.dump();
    return res.statusCode === 200;
  }

  /**
   * Cross-repository mount: `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=FROM`. Returns
   * "mounted" (201), or the Location of an upload the registry opened instead (202).
   */
  async mountBlob(repo: string, digest: string, from: string): Promise<"mounted" | string> {
    const res = await this.send({
      method: "POST",
      url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes: [`repository:${repo}:pull,push`, `repository:${from}:pull`],
      headers: { "content-length": "0" },
      ok: [201, 202],
      what: `mount ${digest} from ${from}`,
    });
    await res.body.dump();
    if (res.statusCode === 201) return "mounted";
    return this.location(res, repo);
  }

  async startUpload(repo: string): Promise<string> {
    const res = await this.send({
      method: "POST",
      url: `/v2/${repo}/blobs/uploads/`,
      scopes: [`repository:${repo}:pull,push`],
      headers: { "content-length": "0" },
      ok: [202],
      what: `upload to ${repo}`,
    });
    await res.body.dump();
    return this.location(res, repo);
  }

  /** Monolithic upload: one PUT with the whole blob and its digest. */
  async putBlob(repo: string, location: string, digest: string, size: number, body: Readable | Buffer): Promise<void> {
    const res = await this.send({
      method: "PUT",
      url: withDigest(location, digest),
      scopes: [`repository:${repo}:pull,push`],
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body,
      ok: [201],
      what: `blob ${digest}`,
    });
    await res.body.dump();
  }

  /** One chunk of a chunked upload (PATCH with Content-Range); returns the next Location. */
  async patchChunk(repo: string, location: string, start: number, body: Readable | Buffer, length: number): Promise<string> {
    const res = await this.send({
      method: "PATCH",
      url: location,
      scopes: [`repository:${repo}:pull,push`],
      headers: { "content-type": "application/octet-stream", "content-length": String(length), "content-range": `${start}-${start + length - 1}` },
      body,
      ok: [202],
      what: `upload chunk ${start}-${start + length - 1}`,
    });
    await res.body.dump();
    return this.location(res, repo);
  }

  /** Close a chunked upload: PUT LOCATION?digest=D with no body. */
  async finishUpload(repo: string, location: string, digest: string): Promise<void> {
    const res = await this.send({
      method: "PUT",
      url: withDigest(location, digest),
      scopes: [`repository:${repo}:pull,push`],
      headers: { "content-length": "0" },
      ok: [201],
      what: `blob ${digest}`,
    });
    await res.body.dump();
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private location(res: Response, repo: string): string {
    const loc = header(res, "location");
    if (!loc) throw new RegistryError(`${this.host}/${repo}: upload answered without a Location`);
    return new URL(loc, `${this.t.base()}/`).toString();
  }

  private async raw(method: Method, url: string, headers: Record<string, string>, body?: Buffer | Readable | null): Promise<Response> {
    return send(url, { method, headers: { "user-agent": this.userAgent, ...headers }, body: body ?? null, agent: this.t.agent() });
  }

  private async token(scopes: readonly string[]): Promise<string> {
    const key = [...scopes].sort().join(" ");
    let p = this.tokens.get(key);
    if (p === undefined) {
      p = this.fetchToken(scopes);
      this.tokens.set(key, p);
      p.catch(() => this.tokens.delete(key));
    }
    return p;
  }

  private async fetchToken(scopes: readonly string[]): Promise<string> {
    const ch = this.challenge;
    if (!ch || ch.scheme !== "bearer") throw new Error("internal: token without a bearer challenge");
    const url = tokenUrl(ch, scopes);
    let res: Response;
    try {
      res = await send(url, {
        method: "GET",
        headers: { "user-agent": this.userAgent, ...(this.creds ? { authorization: basicHeader(this.creds) } : {}) },
        agent: url.startsWith(this.t.base()) ? this.t.agent() : undefined,
      });
    } catch (e) {
      throw new UnreachableError(`token server ${new URL(url).origin}`, e);
    }
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) throw new UnauthorizedError(this.host, this.creds !== undefined, specError(text)?.message);
    if (res.statusCode !== 200) throw new RegistryError(`token server ${new URL(url).origin}: ${res.statusCode} ${text.slice(0, 200).trim()}`, { status: res.statusCode });
    let j: { token?: string; access_token?: string };
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      throw new RegistryError(`token server ${new URL(url).origin}: answer is not JSON`);
    }
    const tok = j.token ?? j.access_token;
    if (!tok) throw new RegistryError(`token server ${new URL(url).origin}: answer has no token`);
    return tok;
  }

  private async authorization(scopes: readonly string[]): Promise<Record<string, string>> {
    const ch = this.challenge;
    if (!ch) return {};
    if (ch.scheme === "basic") return this.creds ? { authorization: basicHeader(this.creds) } : {};
    return { authorization: `Bearer ${await this.token(scopes)}` };
  }

  /** Send with auth, follow redirects, turn unexpected statuses into RegistryErrors. */
  private async send(r: Req): Promise<Response> {
    await this.ping();
    let url = r.url.startsWith("/") ? `${this.t.base()}${r.url}` : r.url;
    const origin = new URL(`${this.t.base()}/`).origin;
    let auth = await this.authorization(r.scopes);
    let retriedAuth = false;
    for (let hops = 0; ; hops++) {
      const sameOrigin = new URL(url).origin === origin;
      let res: Response;
      try {
        res = await this.raw(r.method, url, { ...(sameOrigin ? auth : {}), ...(r.headers ?? {}) }, r.body);
      } catch (e) {
        throw new RegistryError(`${r.what}: ${r.method} ${url}: ${networkReason(e)}`, { cause: e });
      }
      if (REDIRECTS.has(res.statusCode) && hops < 5) {
        await res.body.dump();
        const loc = header(res, "location");
        if (!loc) throw new RegistryError(`${r.what}: ${res.statusCode} without a Location`);
        url = new URL(loc, url).toString();
        continue;
      }
      if (r.ok.includes(res.statusCode)) return res;
      const text = await res.body.text().catch(() => "");
      if (res.statusCode === 401) {
        // A token for other scopes than asked (the registry names them) is retried once, if the
        // body can be sent again.
        const ch = parseChallenge(header(res, "www-authenticate"));
        const bodyReplayable = r.body === undefined || r.body === null || Buffer.isBuffer(r.body);
        if (!retriedAuth && bodyReplayable && ch?.scheme === "bearer" && ch.params.scope && this.challenge?.scheme === "bearer") {
          retriedAuth = true;
          const scopes = [...new Set([...r.scopes, ...ch.params.scope.split(" ")])];
          auth = await this.authorization(scopes);
          continue;
        }
        throw new UnauthorizedError(this.host, this.creds !== undefined, specError(text)?.message);
      }
      const se = specError(text);
      const status = `${res.statusCode}`;
      if (se) throw new RegistryError(`${r.what}: ${se.message}${se.message.toLowerCase() === se.code.toLowerCase().replace(/_/g, " ") ? "" : ` (${se.code})`}`, { status: res.statusCode, code: se.code });
      if (res.statusCode === 404) throw new RegistryError(`${r.what}: not found (404)`, { status: 404, code: "NOT_FOUND" });
      throw new RegistryError(`${r.what}: ${r.method} ${url}: ${status} ${text.slice(0, 200).trim()}`.trim(), { status: res.statusCode });
    }
  }
}

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}
