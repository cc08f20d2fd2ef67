/**
 * `RUN --mount=...`, after BuildKit's Dockerfile reference: `type=bind` (the build context, or
 * another stage or image with `from=`; read-only unless `rw`, and then writes are thrown away),
 * `type=cache` (a directory kept between builds under $BOX_ROOT/builder/cache/mounts, removed by
 * `box builder prune`) and `type=tmpfs`. `secret` and `ssh` are refused. The spec reader is pure;
 * what a mount needs on the host is made by builder.ts for the length of one step.
 */
import { lgetxattr } from "@box/sys";
import { readdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join, posix } from "node:path";
import { lstatOrNull } from "./files.js";

export interface RunMount {
  type: "bind" | "cache" | "tmpfs";
  /** Absolute, inside the container. */
  target: string;
  /** bind: the path in the source (default its root); cache: unused. */
  source?: string;
  /** bind: a stage or image instead of the context. */
  from?: string;
  readonly: boolean;
  /** cache: what names the cache (default the target). */
  id?: string;
  sharing?: "shared" | "private" | "locked";
  /** cache: the directory's mode, uid and gid when it is made (0755, 0, 0). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs: size in bytes. */
  size?: number;
}

const KEYS = new Set(["type", "target", "dst", "destination", "source", "src", "from", "readonly", "ro", "rw", "readwrite", "id", "sharing", "mode", "uid", "gid", "size"]);

/** BuildKit's CSV fields: `a=b,"c=d,e"`. */
function fields(spec: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i] as string;
    if (ch === '"') {
      if (quoted && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new Error(`unterminated quote in mount ${spec}`);
  out.push(cur);
  return out.filter((f) => f.trim() !== "");
}

function bool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new Error(`invalid value for ${key}: ${value}`);
}

/** "64m", "1g", "4096": bytes, as Docker's RAMInBytes. */
function bytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v);
  if (!m) throw new Error(`invalid size: ${v}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] as string).toLowerCase()] as number;
  return Math.floor(Number(m[1]) * mult);
}

/**
 * One `--mount` value (already expanded), with a relative target taken from `workdir`.
 * Pure; throws a message fit for "RUN --mount=...: ...".
 */
export function parseMount(spec: string, workdir = "/"): RunMount {
  const kv = new Map<string, string | undefined>();
  for (const f of fields(spec)) {
    const eq = f.indexOf("=");
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    if (!KEYS.has(key)) throw new Error(`unexpected key '${key}' in '${f}'`);
    kv.set(key, eq < 0 ? undefined : f.slice(eq + 1));
  }
  const type = kv.get("type") ?? "bind";
  if (type === "secret" || type === "ssh") throw new Error(`--mount=type=${type} is not supported by box build`);
  if (type !== "bind" && type !== "cache" && type !== "tmpfs") throw new Error(`unsupported mount type "${type}"`);
  const rawTarget = kv.get("target") ?? kv.get("dst") ?? kv.get("destination");
  if (rawTarget === undefined || rawTarget === "") throw new Error("mount destination (target) not set");
  const target = posix.resolve(workdir, rawTarget);
  if (target === "/") throw new Error("mount target cannot be /");
  let readonly = type === "bind";
  for (const k of ["readonly", "ro"]) if (kv.has(k)) readonly = bool(k, kv.get(k));
  for (const k of ["rw", "readwrite"]) if (kv.has(k)) readonly = !bool(k, kv.get(k));
  const m: RunMount = { type, target, readonly };
  const value = (k: string) => {
    const v = kv.get(k);
    if (kv.has(k) && (v === undefined || v === "")) throw new Error(`${k} needs a value`);
    return v;
  };
  const only = (keys: string[], types: string[]) => {
    for (const k of keys) if (kv.has(k) && !types.includes(type)) throw new Error(`${k} is not valid for type=${type}`);
  };
  only(["source", "src", "from"], ["bind", "cache"]);
  only(["id", "sharing", "mode", "uid", "gid"], ["cache"]);
  only(["size"], ["tmpfs"]);
  const source = value("source") ?? value("src");
  if (source !== undefined) m.source = source;
  const from = value("from");
  if (from !== undefined) m.from = from;
  if (type === "cache" && (from !== undefined || source !== undefined)) throw new Error("a cache mount seeded from= a stage is not supported by box build");
  const id = value("id");
  if (id !== undefined) m.id = id;
  const sharing = value("sharing");
  if (sharing !== undefined) {
    if (sharing !== "shared" && sharing !== "private" && sharing !== "locked") throw new Error(`unsupported sharing value "${sharing}"`);
    m.sharing = sharing;
  }
  const mode = value("mode");
  if (mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(mode)) throw new Error(`invalid mode: ${mode}`);
    m.mode = parseInt(mode, 8);
  }
  for (const k of ["uid", "gid"] as const) {
    const v = value(k);
    if (v === undefined) continue;
    if (!/^\d+$/.test(v)) throw new Error(`invalid ${k}: ${v}`);
    m[k] = Number(v);
  }
  const size = value("size");
  if (size !== undefined) m.size = bytes(size);
  return m;
}

/** Paths from `/` down to `target`, each with the ones above it: /a, /a/b, /a/b/c. */
export function pathChain(target: string): string[] {
  const parts = target.split("/").filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}

/**
 * ns-exec makes a mount point for each mount in the step's root: empty ones the command left
 * as they were are not the step's work, and stay out of its layer (BuildKit's stub cleaner).
 * `created` are the paths no layer below had; a parent dir overlayfs copied up only to hold a
 * stub goes too when it is empty, not opaque, and has the lower's owner and mode.
 */
export function pruneMountStubs(upper: string, created: Set<string>, targets: string[], lowerStat: (path: string) => ReturnType<typeof lstatOrNull>): void {
  const paths = [...new Set(targets.flatMap(pathChain))].sort((a, b) => b.length - a.length);
  for (const p of paths) {
    const host = join(upper, p);
    const st = lstatOrNull(host);
    if (st === null) continue;
    if (created.has(p)) {
      if (st.isDirectory() && readdirSync(host).length === 0) rmdirSync(host);
      else if (st.isFile() && st.size === 0) unlinkSync(host);
      continue;
    }
    if (!st.isDirectory() || readdirSync(host).length > 0) continue;
    const low = lowerStat(p);
    if (low === null || !low.isDirectory()) continue;
    if (low.uid !== st.uid || low.gid !== st.gid || low.mode !== st.mode) continue;
    if (lgetxattr(host, "trusted.overlay.opaque") !== null) continue;
    rmdirSync(host);
  }
}
