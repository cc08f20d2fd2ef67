// Registry fixtures: Debian's docker-registry (CNCF distribution) started on 127.0.0.1 and a free
// port with its storage in a temp dir, plain, with htpasswd basic auth behind TLS (a CA made
// here with openssl), or with token auth against a small token server run in the test process.
//
//   const reg = await startRegistry();
//   try { ... reg.host ... } finally { await reg.stop(); }

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSign, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export interface Registry {
  /** `127.0.0.1:PORT` (or `localhost:PORT` with TLS): what goes in front of image names. */
  host: string;
  port: number;
  /** Where its config, storage and certificates live (removed by stop()). */
  dir: string;
  /** The registry's log (stderr and stdout), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Basic auth: users and passwords written to an htpasswd file (bcrypt, as distribution wants). */
  htpasswd?: Record<string, string>;
  /** Serve TLS with a certificate for `localhost` from a fresh CA; `ca` is then its PEM file. */
  tls?: boolean;
  /** Token auth against this token server. */
  token?: TokenServer;
}

export interface TlsRegistry extends Registry {
  /** The CA certificate (PEM file) that signed the registry's certificate. */
  ca: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A CA and a server certificate for `names` (DNS names and IPs), all PEM files under dir. */
export function makeCerts(dir: string, names: string[]): { ca: string; cert: string; key: string } {
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=box test CA"]);
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.crt");
  sh("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${names[0]}`]);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(join(dir, "ext.cnf"), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  sh("openssl", ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", join(dir, "ext.cnf")]);
  return { ca, cert, key };
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${log()}`);
    try {
      // Any answer (200, 401) means it is serving; TLS ones are checked with verification off.
      const { request } = await import(url.startsWith("https") ? "node:https" : "node:http");
      await new Promise<void>((resolve, reject) => {
        const req = request(url, { rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve();
        });
        req.on("error", reject);
        req.end();
      });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url}:\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startRegistry(opts: RegistryOptions & { tls: true }): Promise<TlsRegistry>;
export async function startRegistry(opts?: RegistryOptions): Promise<Registry>;
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry | TlsRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "boxreg-"));
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const lines = [
      "version: 0.1",
      "log:",
      "  level: warn",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString("hex")}`,
    ];
    let ca: string | undefined;
    if (opts.tls) {
      const c = makeCerts(dir, ["localhost", "127.0.0.1"]);
      ca = c.ca;
      lines.push("  tls:", `    certificate: ${c.cert}`, `    key: ${c.key}`);
    }
    if (opts.htpasswd) {
      const file = join(dir, "htpasswd");
      writeFileSync(file, Object.entries(opts.htpasswd).map(([u, p]) => sh("htpasswd", ["-Bbn", u, p]).trim()).join("\n") + "\n");
      lines.push("auth:", "  htpasswd:", "    realm: box-test", `    path: ${file}`);
    } else if (opts.token) {
      lines.push(
        "auth:",
        "  token:",
        `    realm: ${opts.token.url}/token`,
        `    service: ${opts.token.service}`,
        `    issuer: ${opts.token.issuer}`,
        `    rootcertbundle: ${opts.token.cert}`,
      );
    }
    const config = join(dir, "config.yml");
    writeFileSync(config, lines.join("\n") + "\n");
    const out: Buffer[] = [];
    child = spawn(REGISTRY_BIN, ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => out.push(b));
    const log = () => Buffer.concat(out).toString("utf8");
    const host = `${opts.tls ? "localhost" : "127.0.0.1"}:${port}`;
    await waitReady(`${opts.tls ? "https" : "http"}://127.0.0.1:${port}/v2/`, child, log);
    const proc = child;
    const reg: Registry = {
      host,
      port,
      dir,
      log,
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) {
          const gone = new Promise((r) => proc.once("exit", r));
          proc.kill("SIGKILL");
          await gone;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return ca ? { ...reg, ca } : reg;
  } catch (e) {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

// ---- token auth ----------------------------------------------------------------------------------

export interface TokenServer {
  url: string;
  service: string;
  issuer: string;
  /** The certificate (PEM file) whose key signs tokens: the registry's rootcertbundle. */
  cert: string;
  /** Token requests seen: the scopes asked for and whether credentials came with them. */
  requests: Array<{ scopes: string[]; user: string | undefined; granted: string[] }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * A token server after the distribution token spec: GET /token?service=S&scope=repository:R:A
 * with optional Basic auth. Anonymous callers get pull only; `users` get what they ask for.
 * Wrong passwords get 401. Tokens are RS256 JWTs with the signing certificate in x5c.
 */
export async function startTokenServer(users: Record<string, string>): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), "boxtok-"));
  const key = join(dir, "token.key");
  const cert = join(dir, "token.crt");
  sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=box test token issuer"]);
  const keyPem = readFileSync(key, "utf8");
  const der = readFileSync(cert, "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const service = "box-test-registry";
  const issuer = "box-test-issuer";
  const requests: TokenServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Basic ")) {
      const [name, ...pw] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      if (name === undefined || users[name] === undefined || users[name] !== pw.join(":")) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }));
        return;
      }
      user = name;
    }
    const scopes = u.searchParams.getAll("scope");
    const access = scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const actions = (m[2] ?? "").split(",").filter((a) => user !== undefined || a === "pull");
      return [{ type: "repository", name: m[1], actions }];
    });
    requests.push({ scopes, user, granted: access.map((a) => `${a.name}:${a.actions.join(",")}`) });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [der] };
    const claims = { iss: issuer, sub: user ?? "", aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign("RSA-SHA256").update(signing).sign(keyPem);
    const token = `${signing}.${b64url(sig)}`;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    service,
    issuer,
    cert,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
