/**
 * Credentials as Docker keeps them: `{"auths": {"HOST": {"auth": base64("user:password")}}}`,
 * in box's own file ($BOX_CONFIG, or ~/.config/box/config.json), mode 0600, written whole and
 * renamed into place. An existing ~/.docker/config.json ($DOCKER_CONFIG/config.json) is read
 * too, so a `docker login` already done is honoured; box never writes it. Credential helpers
 * (`credsStore`) are not run.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { Credentials } from "./auth.js";

interface ConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  [k: string]: unknown;
}

/** Docker Hub's key in config.json. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

function home(): string {
  return process.env.HOME || homedir();
}

export function boxConfigPath(): string {
  return process.env.BOX_CONFIG || join(home(), ".config", "box", "config.json");
}

export function dockerConfigPath(): string {
  return join(process.env.DOCKER_CONFIG || join(home(), ".docker"), "config.json");
}

/** The key a host is stored under (Docker Hub keeps its historical URL). */
export function credentialKey(host: string): string {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB_KEY : host;
}

/** Keys as users and other tools wrote them: with a scheme, a trailing /v1/ or /v2/ path. */
function keyHost(key: string): string {
  const k = key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return k === "index.docker.io" || k === "registry-1.docker.io" ? "docker.io" : k;
}

function read(path: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch (e) {
    throw new Error(`${path}: not valid JSON`, { cause: e });
  }
}

function decode(entry: NonNullable<ConfigFile["auths"]>[string]): Credentials | undefined {
  if (entry.auth) {
    const s = Buffer.from(entry.auth, "base64").toString("utf8");
    const i = s.indexOf(":");
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** The credentials for `host` ("127.0.0.1:5000", "docker.io"), box's file first, then Docker's. */
export function getCredentials(host: string): Credentials | undefined {
  const want = keyHost(credentialKey(host));
  for (const path of [boxConfigPath(), dockerConfigPath()]) {
    const auths = read(path)?.auths ?? {};
    for (const [key, entry] of Object.entries(auths)) {
      if (keyHost(key) === want) {
        const c = decode(entry);
        if (c) return c;
      }
    }
  }
  return undefined;
}

function write(path: string, cfg: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(cfg, null, "\t")}\n`, { mode: 0o600, flag: "wx" });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Store credentials for `host` in box's file (0600). Returns the file. */
export function saveCredentials(host: string, c: Credentials): string {
  const path = boxConfigPath();
  const cfg = read(path) ?? {};
  const auths = { ...(cfg.auths ?? {}) };
  for (const k of Object.keys(auths)) if (keyHost(k) === keyHost(credentialKey(host))) delete auths[k];
  auths[credentialKey(host)] = { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") };
  write(path, { ...cfg, auths });
  return path;
}

/** Forget `host` in box's file; false if it was not there. */
export function removeCredentials(host: string): boolean {
  const path = boxConfigPath();
  const cfg = read(path);
  if (!cfg?.auths) return false;
  const auths = { ...cfg.auths };
  let found = false;
  for (const k of Object.keys(auths)) {
    if (keyHost(k) === keyHost(credentialKey(host))) {
      delete auths[k];
      found = true;
    }
  }
  if (found) write(path, { ...cfg, auths });
  return found;
}
