/**
 * How to reach a registry host: which scheme, which CAs, one keep-alive connection pool.
 *
 * As Docker: registries on 127.0.0.0/8 (and ::1) are insecure without being told, and so are
 * those named in --insecure-registry or BOX_INSECURE_REGISTRIES. An insecure registry is tried
 * over plain HTTP first, then over TLS without verification (Docker tries TLS first; the order
 * only changes speed, since a TLS server answers plain HTTP with a 400). Every other registry is HTTPS,
 * verified against the system CAs, the extra CA files (BOX_EXTRA_CA_CERTS; NODE_EXTRA_CA_CERTS,
 * which box's launcher moves to BOX_NODE_EXTRA_CA_CERTS because node would parse it at every
 * start), and the host's own
 * certs.d directory (`/etc/box/certs.d/HOST[:PORT]/*.crt`, or $BOX_CERTS_D), read only when a
 * TLS connection is first made.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";

export const DEFAULT_CERTS_D = "/etc/box/certs.d";

/** docker.io's API lives at registry-1.docker.io, as Docker's registry package maps it. */
export function endpointHost(host: string): string {
  return host === "docker.io" || host === "index.docker.io" ? "registry-1.docker.io" : host;
}

function hostOnly(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const i = host.lastIndexOf(":");
  return i >= 0 && host.indexOf(":") === i ? host.slice(0, i) : host;
}

/** Whether `host` ("127.0.0.1:5000", "[::1]:5000", "reg.example:443") is insecure by default or by list. */
export function isInsecure(host: string, extra: readonly string[] = []): boolean {
  const list = [...extra, ...(process.env.BOX_INSECURE_REGISTRIES ?? "").split(/[\s,]+/)].filter(Boolean);
  if (list.includes(host) || list.includes(hostOnly(host))) return true;
  const h = hostOnly(host);
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}

/** The CA certificates to trust for `host`, beyond none: system roots, the extra file, certs.d. */
function trustFor(host: string): string[] | undefined {
  const extra: string[] = [];
  for (const f of [process.env.BOX_EXTRA_CA_CERTS, process.env.BOX_NODE_EXTRA_CA_CERTS, process.env.NODE_EXTRA_CA_CERTS]) {
    if (!f) continue;
    try {
      extra.push(readFileSync(f, "utf8"));
    } catch {
      // as node does with a missing NODE_EXTRA_CA_CERTS: warn-free, the system roots still apply
    }
  }
  const dir = join(process.env.BOX_CERTS_D || DEFAULT_CERTS_D, host);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // no directory for this host: the common case
  }
  for (const n of names.sort()) if (n.endsWith(".crt")) extra.push(readFileSync(join(dir, n), "utf8"));
  // Giving `ca` replaces node's roots, so they are listed too.
  return extra.length ? [...rootCertificates, ...extra] : undefined;
}

/** A response: status, lower-case headers, and the body as a Node stream with readers. */
export interface Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string>; arrayBuffer(): Promise<Buffer>; dump(): Promise<void> };
}

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** No data for this long on a connection: the registry is treated as gone. */
const IDLE_TIMEOUT_MS = 120_000;

function wrap(res: IncomingMessage): Response {
  const body = res as IncomingMessage & Response["body"];
  body.arrayBuffer = async () => {
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  };
  body.text = async () => (await body.arrayBuffer()).toString("utf8");
  body.dump = async () => {
    res.resume();
    if (!res.complete) await new Promise<void>((r) => res.once("close", () => r()));
  };
  // A connection that ends before Content-Length is an error on the body, not a short read.
  res.on("aborted", () => res.destroy(new Error("the registry closed the connection before the body ended")));
  return { statusCode: res.statusCode ?? 0, headers: res.headers, body };
}

/**
 * One HTTP request with Node's own http/https (keep-alive agents): loading undici cost a third of
 * a second at every start, more than a small pull takes.
 */
export function send(
  url: string,
  opts: { method: Method; headers: Record<string, string>; body?: Buffer | Readable | null; agent?: HttpAgent | HttpsAgent | undefined },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, { method: opts.method, headers: opts.headers, ...(opts.agent ? { agent: opts.agent } : {}) }, (res) => resolve(wrap(res)));
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`), { code: "ETIMEDOUT" })));
    req.on("error", reject);
    const b = opts.body;
    if (b === undefined || b === null) req.end();
    else if (Buffer.isBuffer(b)) req.end(b);
    else {
      b.on("error", (e) => req.destroy(e));
      b.pipe(req);
    }
  });
}

export interface Transport {
  /** "https" or "http", settled by the first request. */
  scheme: "https" | "http";
  /** Whether falling back to plain HTTP is still allowed. */
  insecure: boolean;
  agent(): HttpAgent | HttpsAgent;
  base(): string;
  close(): Promise<void>;
}

export function transport(host: string, insecureRegistries: readonly string[] = []): Transport {
  const insecure = isInsecure(host, insecureRegistries);
  const api = endpointHost(host);
  let tlsAgent: HttpsAgent | undefined;
  let plainAgent: HttpAgent | undefined;
  const opts = { keepAlive: true, maxSockets: 16 };
  const t: Transport = {
    // Insecure registries are nearly always plain HTTP: try that first (client.ts ping switches
    // to TLS when the answer says so), and skip building a TLS context for nothing.
    scheme: insecure ? "http" : "https",
    insecure,
    agent() {
      if (t.scheme === "http") return (plainAgent ??= new HttpAgent(opts));
      if (tlsAgent === undefined) {
        const ca = insecure ? undefined : trustFor(host);
        tlsAgent = new HttpsAgent({ ...opts, rejectUnauthorized: !insecure, ...(ca ? { ca } : {}) });
      }
      return tlsAgent;
    },
    base: () => `${t.scheme}://${api}`,
    async close() {
      tlsAgent?.destroy();
      plainAgent?.destroy();
    },
  };
  return t;
}
