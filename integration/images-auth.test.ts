// Registry auth against the real docker-registry: htpasswd basic auth behind TLS with a CA made
// here (certs.d and BOX_EXTRA_CA_CERTS), and bearer tokens from a token server in this process.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatResult, harness, importBusybox, isBuilt, type Harness, type RunResult } from "./lib/harness.js";
import { startRegistry, startTokenServer, type Registry, type TlsRegistry, type TokenServer } from "./lib/registry.js";

const open: Harness[] = [];
let home: string;
async function newHarness(): Promise<Harness> {
  const h = await harness();
  open.push(h);
  // Credentials and CAs of this test only: no ~/.docker of the machine's user.
  h.env.HOME = join(home, h.id);
  h.env.BOX_CONFIG = join(home, h.id, "box-config.json");
  h.env.BOX_CERTS_D = join(home, h.id, "certs.d");
  delete h.env.BOX_EXTRA_CA_CERTS;
  delete h.env.NODE_EXTRA_CA_CERTS;
  mkdirSync(h.env.BOX_CERTS_D, { recursive: true });
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup();
});
beforeAll(() => {
  if (!isBuilt("box")) throw new Error("packages are not built: run `pnpm build` first");
  home = mkdtempSync(join(tmpdir(), "boxauth-"));
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

function expectTrue(cond: boolean, r: RunResult, what: string): void {
  if (!cond) throw new Error(`${what}\n${formatResult(r)}`);
}

describe("htpasswd basic auth behind TLS", () => {
  let reg: TlsRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true, htpasswd: { alice: "s3cret" } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("TLS is verified: without the CA the pull fails and names the certificate", async () => {
    const h = await newHarness();
    const r = expectCode(await h.box("pull", `${reg.host}/x/y`), 1);
    expectTrue(/TLS: .*(certificate|CERT)/i.test(r.stderr), r, "certificate error named");
  });

  it("login (wrong password is a 401), push, pull, logout; config.json is 0600 with base64 auth", async () => {
    const h = await newHarness();
    mkdirSync(join(h.env.BOX_CERTS_D as string, reg.host), { recursive: true });
    copyFileSync(reg.ca, join(h.env.BOX_CERTS_D as string, reg.host, "ca.crt"));
    await importBusybox(h);
    const ref = `${reg.host}/secure/bb:1`;
    expectOk(await h.box("tag", "busybox", ref));

    const anon = expectCode(await h.box("push", ref), 1);
    expectTrue(/401 Unauthorized: .* requires authentication/.test(anon.stderr), anon, "push without login: 401 named");
    const wrong = expectCode(await h.box("login", "-u", "alice", "--password-stdin", reg.host, { input: "nope\n" }), 1);
    expectTrue(/401 Unauthorized: .* refused the user name or password/.test(wrong.stderr), wrong, "wrong password: 401 named");
    const ok = expectOk(await h.box("login", "-u", "alice", "--password-stdin", reg.host, { input: "s3cret\n" }));
    expect(ok.stdout).toBe("Login Succeeded\n");
    const cfgPath = h.env.BOX_CONFIG as string;
    expect(statSync(cfgPath).mode & 0o777).toBe(0o600);
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    expect(Buffer.from(cfg.auths[reg.host].auth, "base64").toString()).toBe("alice:s3cret");

    expectOk(await h.box("push", ref));
    expectOk(await h.box("rmi", ref));
    expectOk(await h.box("pull", ref));
    expect(expectOk(await h.box("run", "--rm", ref, "echo", "tls")).stdout).toBe("tls\n");

    const out = expectOk(await h.box("logout", reg.host));
    expect(out.stdout).toBe(`Removing login credentials for ${reg.host}\n`);
    expectCode(await h.box("pull", ref.replace(":1", ":2")), 1);
  });

  it("the CA from BOX_EXTRA_CA_CERTS, and credentials from ~/.docker/config.json", async () => {
    const h = await newHarness();
    h.env.BOX_EXTRA_CA_CERTS = reg.ca;
    mkdirSync(join(h.env.HOME as string, ".docker"), { recursive: true });
    writeFileSync(join(h.env.HOME as string, ".docker", "config.json"), JSON.stringify({ auths: { [`https://${reg.host}`]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
    await importBusybox(h);
    const ref = `${reg.host}/dockercfg/bb:1`;
    expectOk(await h.box("tag", "busybox", ref));
    expectOk(await h.box("push", "-q", ref));
  });
});

describe("bearer token auth", () => {
  let tokens: TokenServer;
  let reg: Registry;
  beforeAll(async () => {
    tokens = await startTokenServer({ bob: "hunter2" });
    reg = await startRegistry({ token: tokens });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.stop();
  });

  it("anonymous tokens pull but cannot push; login gets push scope", async () => {
    const h = await newHarness();
    await importBusybox(h);
    const ref = `${reg.host}/team/bb:1`;
    expectOk(await h.box("tag", "busybox", ref));

    const anon = expectCode(await h.box("push", ref), 1);
    expectTrue(/401 Unauthorized/.test(anon.stderr), anon, "anonymous push refused with 401");
    expectCode(await h.box("login", "-u", "bob", "--password-stdin", reg.host, { input: "wrong" }), 1);
    expectOk(await h.box("login", "-u", "bob", "--password-stdin", reg.host, { input: "hunter2" }));
    expectOk(await h.box("push", ref));
    expect(tokens.requests.some((r) => r.user === "bob" && r.scopes.includes("repository:team/bb:pull,push"))).toBe(true);

    // Another user with no credentials pulls with an anonymous pull token.
    const other = await newHarness();
    const before = tokens.requests.length;
    expectOk(await other.box("pull", ref));
    const asked = tokens.requests.slice(before);
    expect(asked.some((r) => r.user === undefined && r.scopes.includes("repository:team/bb:pull"))).toBe(true);
    expect(expectOk(await other.box("run", "--rm", ref, "echo", "token")).stdout).toBe("token\n");
  });
});
