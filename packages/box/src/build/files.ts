/**
 * Files for COPY and ADD: sources found in the build context (or another stage's root), hashed
 * for the cache, and copied into a root filesystem with every path resolved inside that root,
 * so an image's symlink (`/app -> /etc` on the host's view) never leads a write out of it.
 */
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, chmodSync, rmSync, symlinkSync, type Stats } from "node:fs";
import { posix, join } from "node:path";
import type { IgnoreMatcher } from "./ignore.js";

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, every symlink on the way resolved as the root's own
 * (absolute targets start again at the root, `..` stops at it). With `mkdir`, missing
 * directories are made (0755, owned by `owner`). The last component is followed too unless
 * `nofollowLast`.
 */
export function resolveInRoot(root: string, path: string, opts: { mkdir?: boolean; owner?: [number, number]; nofollowLast?: boolean } = {}): string {
  const todo = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const comp = todo.shift() as string;
    if (comp === "..") {
      done.pop();
      continue;
    }
    const host = join(root, ...done, comp);
    let st: Stats | undefined;
    try {
      st = lstatSync(host);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && !(opts.nofollowLast && todo.length === 0)) {
      if (++links > MAX_LINKS) throw new Error(`${path}: too many levels of symbolic links`);
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      todo.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    if (st === undefined && opts.mkdir && todo.length > 0) {
      mkdirSync(host, 0o755);
      if (opts.owner) lchownSync(host, opts.owner[0], opts.owner[1]);
    }
    done.push(comp);
  }
  return join(root, ...done);
}

export function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** One source operand of COPY/ADD, matched against a tree. */
export interface Source {
  /** Path relative to the source root, `/`-separated, no leading slash ("" for the root itself). */
  rel: string;
  /** Host path. */
  abs: string;
  st: Stats;
}

function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

function globRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

/**
 * The entries `operand` names under `root`: a path (symlinks resolved within the root) or a
 * glob over relative paths. Paths the ignore file leaves out do not exist. Throws a message
 * fit for "COPY x: ..." when nothing matches or the operand leaves the root.
 */
export function findSources(root: string, operand: string, ignore?: IgnoreMatcher, context = true): Source[] {
  const clean = posix.normalize(`/${operand}`).slice(1).replace(/\/+$/, "");
  if (context && posix.normalize(operand).startsWith("../")) throw new Error(`forbidden path outside the build context: ${operand}`);
  if (context && (operand === ".." || posix.normalize(operand) === "..")) throw new Error(`forbidden path outside the build context: ${operand}`);
  if (!hasGlob(clean)) {
    const abs = clean === "" ? root : resolveInRoot(root, clean);
    const st = lstatOrNull(abs);
    if (st === null || (clean !== "" && ignore?.ignores(clean))) throw new Error(`"/${clean}": not found`);
    return [{ rel: clean, abs, st }];
  }
  const re = globRegExp(clean);
  const depth = clean.split("/").length;
  const out: Source[] = [];
  const walk = (rel: string, level: number) => {
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      if (ignore?.ignores(r)) continue;
      const abs = join(root, r);
      const st = lstatSync(abs);
      if (level === depth) {
        if (re.test(r)) out.push({ rel: r, abs, st });
      } else if (st.isDirectory()) walk(r, level + 1);
    }
  };
  walk("", 1);
  if (out.length === 0) throw new Error(`no source files were specified for ${operand}`);
  return out;
}

/**
 * What the cache keys a COPY by: names, types, modes, link targets and contents of everything
 * copied (not mtimes: touching a file without changing it keeps the cache, as BuildKit).
 */
export function hashSources(sources: Source[], ignore?: IgnoreMatcher): string {
  const h = createHash("sha256");
  const buf = Buffer.alloc(1 << 16);
  const file = (abs: string) => {
    const fd = openSync(abs, "r");
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  };
  const one = (rel: string, abs: string, st: Stats) => {
    h.update(`\0${rel}\0${st.mode.toString(8)}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(abs));
    else if (st.isFile()) file(abs);
    else if (st.isDirectory()) {
      for (const n of readdirSync(abs).sort()) {
        const r = rel ? `${rel}/${n}` : n;
        if (ignore?.ignores(r)) continue;
        const a = join(abs, n);
        one(r, a, lstatSync(a));
      }
    }
  };
  for (const s of sources) one(s.rel, s.abs, s.st);
  return h.digest("hex");
}

export interface CopyOptions {
  /** uid:gid for everything copied; undefined keeps the source's (ADD of a tar). */
  owner?: [number, number];
  /** --chmod, for files and directories copied. */
  mode?: number;
  ignore?: IgnoreMatcher;
  /** Relative path of the source, for ignore checks below it. */
  rel?: string;
}

function applyMeta(dst: string, st: Stats, o: CopyOptions, isLink = false): void {
  const [uid, gid] = o.owner ?? [st.uid, st.gid];
  lchownSync(dst, uid, gid);
  if (!isLink) chmodSync(dst, o.mode ?? st.mode & 0o7777);
  lutimesSync(dst, st.atime, st.mtime);
}

/** Copy one entry (recursively for a directory's contents) onto the host path `dst`, which is inside a root. */
export function copyEntry(src: string, st: Stats, dst: string, o: CopyOptions): void {
  const existing = lstatOrNull(dst);
  if (st.isDirectory()) {
    if (existing !== null && !existing.isDirectory()) rmSync(dst, { force: true });
    if (existing === null || !existing.isDirectory()) mkdirSync(dst, st.mode & 0o7777);
    for (const n of readdirSync(src).sort()) {
      const rel = o.rel !== undefined ? (o.rel ? `${o.rel}/${n}` : n) : undefined;
      if (rel !== undefined && o.ignore?.ignores(rel)) continue;
      const s = join(src, n);
      copyEntry(s, lstatSync(s), join(dst, n), { ...o, ...(rel !== undefined ? { rel } : {}) });
    }
    applyMeta(dst, st, o);
    return;
  }
  if (existing !== null) rmSync(dst, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dst);
    applyMeta(dst, st, o, true);
  } else if (st.isFile()) {
    copyFileSync(src, dst);
    applyMeta(dst, st, o);
  }
  // Sockets, fifos and devices in a build context are not copied, as Docker's context tar.
}
