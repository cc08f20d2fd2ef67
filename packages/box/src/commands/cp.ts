/**
 * `box cp`: files between a container and the host (or a tar stream), as Docker's.
 *
 * Every path inside the container is resolved with openat2(RESOLVE_IN_ROOT) against a dirfd of the
 * container's root, and every later step works on the fds so opened (openat/mkdirat/symlinkat/
 * unlinkat/fchownat with a single-component name and O_NOFOLLOW), never on a host path string:
 * a symlink the container swaps in meanwhile resolves inside the container, never on the host
 * (CVE-2018-15664). Nothing is executed inside the container; all of it runs in box's own
 * process, so no library of the container is ever loaded (CVE-2019-14271, docker-cp's libnss).
 */
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  chmodSync,
  chownSync,
  utimesSync,
  readFileSync,
  statfsSync,
  type Stats,
} from "node:fs";
import { once } from "node:events";
import { basename, dirname, posix } from "node:path";
import type { Readable, Writable } from "node:stream";
import tar from "tar-stream";
import { ExitError, flag, parseArgs } from "@box/cli";
import { hostId, type IdMap } from "@box/ns-exec";
import { AT, O, SysError, fchownat, mkdirat, openat, readlinkat, symlinkat, unlinkat } from "@box/sys";
import { RootDir } from "@box/ns-exec";
import { openOverlay } from "@box/ovl-mount";
import { entryPath } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { containerDir } from "../paths.js";
import { getContainer, refresh, type Ctr } from "../container/ops.js";
import { NoSuchContainerError } from "../container/lookup.js";
import { loadSpec, withContainerLock } from "../container/state.js";

export const CP_HELP = `Usage:  box cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
        box cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH

Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.

Options:
  -a, --archive       Archive mode (copy all uid/gid information)
  -L, --follow-link   Always follow symbol link in SRC_PATH
  -q, --quiet         Accepted for Docker compatibility (box prints no progress)
`;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const CHUNK = 1 << 20;

type Kind = "file" | "directory" | "symlink";

/** statfs f_type of proc, sysfs, cgroup, cgroup2, debugfs, securityfs, tracefs. */
const KERNEL_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x64626720, 0x73636673, 0x74726163]);

/** One thing to copy. `name` is relative and starts with the source's own base name. */
export interface Entry {
  name: string;
  kind: Kind;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  linkname?: string;
  body?: () => AsyncIterable<Buffer> | Iterable<Buffer>;
}

const fail = (msg: string): ExitError => new ExitError(msg, 1);

function kindOf(mode: number): Kind | undefined {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "directory";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    default:
      return undefined;
  }
}

function skipped(what: string, mode: number): void {
  process.stderr.write(`box: skipping ${what}: not a regular file, directory or symlink (mode ${(mode & S_IFMT).toString(8)})\n`);
}

/** Exactly `size` bytes of fd (zeros if the file shrank meanwhile), so a tar header never lies. */
function* readFd(fd: number, size: number): Generator<Buffer> {
  let left = size;
  while (left > 0) {
    const buf = Buffer.alloc(Math.min(CHUNK, left));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n <= 0) break;
      got += n;
    }
    left -= buf.length;
    yield buf;
    if (got < buf.length) {
      while (left > 0) {
        const z = Buffer.alloc(Math.min(CHUNK, left));
        left -= z.length;
        yield z;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The container's root

export interface CtrRoot {
  root: RootDir;
  /** Host ids of the container's root user (its user namespace's uid 0). */
  rootUid: number;
  rootGid: number;
  /** A remapped container's maps (inside -> outside): what is read out gets the container's ids. */
  idmap?: { uid: IdMap[]; gid: IdMap[] };
}

/**
 * A host id of a remapped container's file as the container's. An id outside
 * the maps stays as it is: in a stopped container's plain overlay the image's
 * layers show their own ids, only the upper dir's are the host's.
 */
function toContainer(map: IdMap[] | undefined, id: number): number {
  const m = map?.find((x) => id >= x.outside && id < x.outside + x.count);
  return m ? m.inside + (id - m.outside) : id;
}

function procMap(pid: number, which: "uid" | "gid"): IdMap[] {
  try {
    return readFileSync(`/proc/${pid}/${which}_map`, "utf8")
      .split("\n")
      .map((l) => l.trim().split(/\s+/).map(Number))
      .filter((f) => f.length === 3 && f.every((n) => Number.isInteger(n)))
      .map(([inside, outside, count]) => ({ inside: inside!, outside: outside!, count: count! }));
  } catch {
    return [];
  }
}

/** The host id that id 0 of a user namespace's map is (0 without one). */
const hostZero = (map: IdMap[] | undefined): number => (map ? (hostId(map, 0) ?? 0) : 0);

/**
 * Run fn on the container's root. A running container's is /proc/PID/root. A stopped one's is its
 * overlay, mounted detached (an fd no path names, gone with the process): read-only with the upper
 * dir as the top lower layer for reading, or with its upper and work dirs for writing, under the
 * container's lock so it cannot start meanwhile. `merged` asks for the overlay even when running
 * (box export: the container's own files, not the mounts on them).
 */
export async function withRoot<T>(p: BoxPaths, c: Ctr, mode: "read" | "write" | "merged", fn: (r: CtrRoot) => Promise<T>): Promise<T> {
  const live = (x: Ctr) => x.state.Running && !x.state.Settling && x.state.Pid > 0;
  const viaProc = async (x: Ctr): Promise<T> => {
    let root: RootDir;
    try {
      root = new RootDir(`/proc/${x.state.Pid}/root`);
    } catch (cause) {
      throw new Error(`open root of container ${x.id.slice(0, 12)}`, { cause });
    }
    try {
      const uid = procMap(x.state.Pid, "uid");
      const gid = procMap(x.state.Pid, "gid");
      // The host's own user namespace maps every id to itself: nothing to shift.
      const idmap = uid.length === 1 && uid[0]!.inside === 0 && uid[0]!.outside === 0 ? undefined : { uid, gid };
      return await fn({ root, rootUid: hostZero(uid), rootGid: hostZero(gid), ...(idmap ? { idmap } : {}) });
    } finally {
      root.close();
    }
  };
  if (mode !== "merged" && live(c)) return viaProc(c);
  const dir = containerDir(p, c.id);
  const overlay = async (): Promise<T> => {
    const { layers, options: o } = loadSpec(p, c.id);
    // A stopped remapped container: what is written gets its root's host ids, what is read its own.
    const idmap = o.unshare.user ? { uid: o.uidMap, gid: o.gidMap.length ? o.gidMap : o.uidMap } : undefined;
    const upper = `${dir}/upper`;
    const mfd =
      mode === "write" ? openOverlay({ lower: layers, upper, work: `${dir}/work` }) : openOverlay({ lower: [upper, ...layers], readonly: true });
    try {
      const root = new RootDir(`/proc/self/fd/${mfd}`);
      try {
        return await fn({ root, rootUid: hostZero(idmap?.uid), rootGid: hostZero(idmap?.gid), ...(idmap ? { idmap } : {}) });
      } finally {
        root.close();
      }
    } finally {
      closeSync(mfd);
    }
  };
  // A running container's upper dir is read as a lower layer, which needs no lock.
  if (mode === "merged" && live(c)) return overlay();
  return withContainerLock(p, c.id, () => new NoSuchContainerError(c.id), async () => {
    const now = refresh(p, c);
    if (mode !== "merged" && live(now)) return viaProc(now);
    return overlay();
  });
}

/** O_PATH fd of `path` in the container, or null where it does not exist. */
function openIn(r: CtrRoot, path: string, flags: number): number | null {
  try {
    return r.root.open(path, flags);
  } catch (e) {
    if (e instanceof SysError && (e.code === "ENOTDIR" || e.code === "ELOOP")) return null;
    throw e;
  }
}

// ---------------------------------------------------------------------------
// Sources

/** Entries of the object at fd (an O_PATH fd, not followed), named `name`; `link` reads its target. */
function* walkFd(fd: number, name: string, link: () => string): Generator<Entry> {
  const st = fstatSync(fd);
  const kind = kindOf(st.mode);
  if (!kind) return skipped(name, st.mode);
  const base = { name, kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0 };
  if (kind === "symlink") {
    let target: string;
    try {
      target = link();
    } catch (e) {
      if (e instanceof SysError && e.code === "ENOENT") return; // removed meanwhile
      throw e;
    }
    yield { ...base, linkname: target };
    return;
  }
  if (kind === "file") {
    // Reopen through the fd itself: the very inode resolved, not a path.
    const rfd = openSync(`/proc/self/fd/${fd}`, O.RDONLY | O.CLOEXEC);
    try {
      yield { ...base, size: st.size, body: () => readFd(rfd, st.size) };
    } finally {
      closeSync(rfd);
    }
    return;
  }
  yield base;
  // The kernel's own trees hold no files to copy (and readlink of /proc/self fails): Docker's
  // cp cannot copy them either. Their mount point is kept, empty.
  if (KERNEL_FS.has(statfsSync(`/proc/self/fd/${fd}`).type)) return;
  const names = readdirSync(`/proc/self/fd/${fd}`).sort();
  for (const n of names) {
    let cfd: number;
    try {
      cfd = openat(fd, n, O.PATH | O.NOFOLLOW | O.CLOEXEC);
    } catch (e) {
      if (e instanceof SysError && e.code === "ENOENT") continue; // removed meanwhile
      throw e;
    }
    try {
      yield* walkFd(cfd, name ? `${name}/${n}` : n, () => readlinkat(fd, n));
    } finally {
      closeSync(cfd);
    }
  }
}

/**
 * Entries under `path` in the container, opened once (what is walked is what was checked);
 * null if it does not exist. The fd is closed when the entries have been read.
 */
export function containerSource(r: CtrRoot, path: string, follow: boolean, name: string): { isDir: boolean; entries: Iterable<Entry> } | null {
  const fd = openIn(r, path, O.PATH | (follow ? 0 : O.NOFOLLOW));
  if (fd === null) return null;
  const isDir = fstatSync(fd).isDirectory();
  const entries = (function* () {
    try {
      const all = walkFd(fd, name, () => {
        const parent = openIn(r, posix.dirname(path), O.PATH | O.DIRECTORY);
        if (parent === null) throw fail(`${path}: parent directory went away`);
        try {
          return readlinkat(parent, posix.basename(path));
        } finally {
          closeSync(parent);
        }
      });
      if (!r.idmap) yield* all;
      else for (const e of all) yield { ...e, uid: toContainer(r.idmap.uid, e.uid), gid: toContainer(r.idmap.gid, e.gid) };
    } finally {
      closeSync(fd);
    }
  })();
  return { isDir, entries };
}

function* walkHost(abs: string, name: string, st: Stats): Generator<Entry> {
  const kind = kindOf(st.mode);
  if (!kind) return skipped(abs, st.mode);
  const base = { name, kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0 };
  if (kind === "symlink") {
    yield { ...base, linkname: readlinkSync(abs) };
  } else if (kind === "file") {
    const fd = openSync(abs, O.RDONLY | O.NOFOLLOW | O.CLOEXEC);
    try {
      yield { ...base, size: st.size, body: () => readFd(fd, st.size) };
    } finally {
      closeSync(fd);
    }
  } else {
    yield base;
    for (const n of readdirSync(abs).sort()) yield* walkHost(`${abs}/${n}`, `${name}/${n}`, lstatSync(`${abs}/${n}`));
  }
}

/** Entries of a tar stream (stdin); names made relative, `..` above the top refused. */
async function* tarSource(input: Readable): AsyncGenerator<Entry> {
  const ex = tar.extract();
  input.pipe(ex);
  for await (const e of ex) {
    const h = e.header;
    const name = entryPath(h.name);
    const kind: Kind | undefined = h.type === "file" ? "file" : h.type === "directory" ? "directory" : h.type === "symlink" ? "symlink" : undefined;
    if (!kind || name === "") {
      if (!kind) process.stderr.write(`box: skipping tar entry ${JSON.stringify(h.name)} of type ${h.type}\n`);
      e.resume();
      await once(e, "end").catch(() => undefined);
      continue;
    }
    yield {
      name,
      kind,
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: h.mtime ?? new Date(),
      size: h.size ?? 0,
      ...(kind === "symlink" ? { linkname: h.linkname ?? "" } : {}),
      ...(kind === "file" ? { body: () => e as AsyncIterable<Buffer> } : {}),
    };
    // A body the sink did not read (a skipped entry) must still be drained.
    e.resume();
  }
}

// ---------------------------------------------------------------------------
// Sinks

/** Write entries as a tar stream (tar-stream writes PAX headers for long names and large ids). */
export async function tarSink(entries: Iterable<Entry> | AsyncIterable<Entry>, out: Writable): Promise<void> {
  const pack = tar.pack();
  pack.pipe(out);
  const done = once(pack, "end");
  for await (const e of entries) {
    // Directories end in "/" as in Docker's archives (and GNU tar's).
    const header: Partial<tar.Header> & { name: string } = { name: e.kind === "directory" ? `${e.name}/` : e.name, type: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.kind === "file" ? e.size : 0 };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    await new Promise<void>((resolve, reject) => {
      const s = pack.entry(header as tar.Header, (err) => (err ? reject(err) : resolve()));
      if (e.kind !== "file" || !e.body) return;
      void (async () => {
        for await (const chunk of e.body!()) if (!s.write(chunk)) await once(s, "drain");
        (s as unknown as Writable).end();
      })().catch(reject);
    });
  }
  pack.finalize();
  await done;
}

/** Where the entries go: `where(name)` gives the destination of an entry, or null to skip it. */
interface Sink {
  write(e: Entry, dest: string): Promise<void>;
  finish(): void;
}

function ownerOf(e: Entry, archive: boolean, r: { rootUid: number; rootGid: number } | null): { uid: number; gid: number } | null {
  if (archive) return r ? { uid: r.rootUid + e.uid, gid: r.rootGid + e.gid } : { uid: e.uid, gid: e.gid };
  return r ? { uid: r.rootUid, gid: r.rootGid } : null;
}

async function writeBody(fd: number, e: Entry): Promise<void> {
  if (!e.body) return;
  for await (const chunk of e.body()) {
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
  }
}

/** Writes on the host: box's own side, by path, as the invoking user unless -a. */
function hostSink(archive: boolean): Sink {
  const dirs: [string, Date][] = [];
  return {
    async write(e, dest) {
      let st: Stats | undefined;
      try {
        st = lstatSync(dest);
      } catch {
        st = undefined;
      }
      const own = ownerOf(e, archive, null);
      if (e.kind === "directory") {
        if (st && !st.isDirectory()) throw fail(`cannot overwrite non-directory ${JSON.stringify(dest)} with directory`);
        if (!st) {
          mkdirSync(dest, { mode: 0o700 });
          chmodSync(dest, e.mode);
        }
        if (own) chownSync(dest, own.uid, own.gid);
        dirs.push([dest, e.mtime]);
        return;
      }
      if (st?.isDirectory()) throw fail(`cannot overwrite directory ${JSON.stringify(dest)} with non-directory`);
      if (st) unlinkSync(dest);
      if (e.kind === "symlink") {
        symlinkSync(e.linkname ?? "", dest);
        if (own) lchownSync(dest, own.uid, own.gid);
        lutimesSync(dest, e.mtime, e.mtime);
        return;
      }
      const fd = openSync(dest, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
      try {
        await writeBody(fd, e);
        if (own) fchownSync(fd, own.uid, own.gid);
        fchmodSync(fd, e.mode);
        futimesSync(fd, e.mtime, e.mtime);
      } finally {
        closeSync(fd);
      }
    },
    finish() {
      for (const [d, t] of dirs.reverse()) utimesSync(d, t, t);
    },
  };
}

/**
 * Writes into the container: the parent is resolved in the container's root, the leaf created
 * under that dirfd with O_NOFOLLOW|O_EXCL (what was there is unlinked first), and ownership and
 * mode set on the fd: the container's root user unless -a, as Docker.
 */
function containerSink(r: CtrRoot, archive: boolean): Sink {
  const dirs: [number, Date][] = [];
  return {
    async write(e, dest) {
      const own = ownerOf(e, archive, r)!;
      const pfd = openIn(r, posix.dirname(dest), O.PATH | O.DIRECTORY);
      if (pfd === null) throw fail(`no such directory in the container: ${posix.dirname(dest)}`);
      const leaf = posix.basename(dest);
      try {
        let existing: Stats | undefined;
        try {
          const fd = openat(pfd, leaf, O.PATH | O.NOFOLLOW | O.CLOEXEC);
          existing = fstatSync(fd);
          closeSync(fd);
        } catch (err) {
          if (!(err instanceof SysError && err.code === "ENOENT")) throw err;
        }
        if (e.kind === "directory") {
          if (existing && !existing.isDirectory()) throw fail(`cannot overwrite non-directory ${JSON.stringify(dest)} with directory`);
          if (!existing) mkdirat(pfd, leaf, 0o700);
          const dfd = openat(pfd, leaf, O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
          // An existing directory (a contents copy onto /tmp, say) keeps its owner and mode.
          if (!existing) {
            fchownSync(dfd, own.uid, own.gid);
            fchmodSync(dfd, e.mode);
          }
          dirs.push([dfd, e.mtime]);
          return;
        }
        if (existing?.isDirectory()) throw fail(`cannot overwrite directory ${JSON.stringify(dest)} with non-directory`);
        if (existing) unlinkat(pfd, leaf);
        if (e.kind === "symlink") {
          symlinkat(e.linkname ?? "", pfd, leaf);
          fchownat(pfd, leaf, own.uid, own.gid, AT.SYMLINK_NOFOLLOW);
          return;
        }
        const fd = openat(pfd, leaf, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC, 0o600);
        try {
          await writeBody(fd, e);
          fchownSync(fd, own.uid, own.gid);
          // After the chown, which clears set-id bits.
          fchmodSync(fd, e.mode);
          futimesSync(fd, e.mtime, e.mtime);
        } finally {
          closeSync(fd);
        }
      } finally {
        closeSync(pfd);
      }
    },
    finish() {
      for (const [fd, t] of dirs.reverse()) {
        futimesSync(fd, t, t);
        closeSync(fd);
      }
      dirs.length = 0;
    },
  };
}

// ---------------------------------------------------------------------------
// Docker's placement rules

interface Target {
  exists: boolean;
  isDir: boolean;
  parentExists: boolean;
}

/**
 * Where the source named `name` lands, as Docker's CopyInfo rules: a directory into an existing
 * directory goes under it (its contents only with a trailing `/.`), into a missing path becomes
 * that path; a file onto a directory goes under it, else becomes (or replaces) the path.
 */
export function placement(srcIsDir: boolean, src: string, dest: string, t: Target): string {
  const name = posix.basename(src.replace(/\/+\.?$/, "")) || "/";
  // A copy of / is a copy of its contents.
  const contentsOnly = /(^|\/)\.$/.test(src) || /^\/*$/.test(src);
  const destDirSyntax = /\/$/.test(dest) || /(^|\/)\.$/.test(dest);
  const clean = dest.replace(/(.)\/+$/, "$1");
  if (!t.exists) {
    if (!t.parentExists) throw fail(`no such directory: ${dirname(clean)}`);
    if (!srcIsDir && destDirSyntax) throw fail(`destination directory ${dest} does not exist`);
    return clean;
  }
  if (srcIsDir) {
    if (!t.isDir) throw fail(`cannot copy a directory to a file: ${dest}`);
    return contentsOnly ? clean : posix.join(clean, name);
  }
  return t.isDir ? posix.join(clean, name) : clean;
}

async function copy(entries: Iterable<Entry> | AsyncIterable<Entry>, sink: Sink, top: string, dest: string): Promise<void> {
  try {
    for await (const e of entries) {
      const rest = e.name === top ? "" : e.name.slice(top.length + 1);
      await sink.write(e, rest ? `${dest}/${rest}` : dest);
    }
  } finally {
    sink.finish();
  }
}

// ---------------------------------------------------------------------------
// The command

/** `CONTAINER:PATH` or a local path, as Docker splits them (a path starting with / or . is local). */
export function splitArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/") || arg.startsWith(".")) return { path: arg };
  const i = arg.indexOf(":");
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** Pure checks of the two operands, before anything is opened. */
export function validateCp(args: string[]): { src: ReturnType<typeof splitArg>; dst: ReturnType<typeof splitArg> } {
  if (args.length !== 2) throw fail(`"box cp" requires exactly 2 arguments`);
  const src = splitArg(args[0]!);
  const dst = splitArg(args[1]!);
  if (src.container !== undefined && dst.container !== undefined) throw fail("copying between containers is not supported");
  if (src.container === undefined && dst.container === undefined) throw fail("must specify at least one container source");
  const inner = (src.container !== undefined ? src : dst).path;
  if (inner === "") throw fail("path inside the container must not be empty");
  if ((src.container !== undefined ? dst : src).path === "") throw fail("local path must not be empty");
  return { src, dst };
}

/** The container path, absolute (Docker takes a relative one from the root, with no working dir). */
function ctrPath(p: string): string {
  return p.startsWith("/") ? p : `/${p}`;
}

/** The path with a trailing `/.` or `/` dropped, for opening. */
function stripped(p: string): string {
  const s = p.replace(/\/\.$/, "").replace(/(.)\/+$/, "$1");
  return s === "" ? "/" : s;
}

export async function cpCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help", "archive", "follow-link", "quiet"], alias: { a: "archive", L: "follow-link", q: "quiet" } });
  if (flag(a, "help")) {
    process.stdout.write(CP_HELP);
    return 0;
  }
  const { src, dst } = validateCp(a.rest);
  try {
    return await cp(p, src, dst, flag(a, "archive"), flag(a, "follow-link"));
  } catch (e) {
    // Docker's status for any failed copy; a file the container changed meanwhile ends up here too.
    if (e instanceof ExitError) throw e;
    throw new ExitError(`copy ${a.rest[0]} to ${a.rest[1]}`, 1, { cause: e });
  }
}

async function cp(p: BoxPaths, src: ReturnType<typeof splitArg>, dst: ReturnType<typeof splitArg>, archive: boolean, follow: boolean): Promise<number> {

  if (src.container !== undefined) {
    const c = getContainer(p, src.container);
    const path = ctrPath(src.path);
    const name = posix.basename(stripped(path)) || ".";
    if (dst.path === "-" && process.stdout.isTTY) throw fail("cannot write a tar stream to a terminal; redirect stdout");
    await withRoot(p, c, "read", async (r) => {
      const source = containerSource(r, stripped(path), follow, name);
      if (source === null) throw fail(`Could not find the file ${path} in container ${src.container}`);
      const { isDir, entries } = source;
      if (!isDir && /\/\.?$/.test(path)) throw fail(`${path}: not a directory`);
      if (dst.path === "-") return tarSink(entries, process.stdout);
      let t: Target;
      try {
        const st = statSync(dst.path);
        t = { exists: true, isDir: st.isDirectory(), parentExists: true };
      } catch {
        t = { exists: false, isDir: false, parentExists: existsDir(dirname(dst.path.replace(/(.)\/+$/, "$1"))) };
      }
      await copy(entries, hostSink(archive), name, placement(isDir, path, dst.path, t));
    });
    return 0;
  }

  const c = getContainer(p, dst.container!);
  const dest = ctrPath(dst.path);
  let local: { entries: Iterable<Entry> | AsyncIterable<Entry>; isDir: boolean; name: string } | undefined;
  if (src.path !== "-") {
    let st: Stats;
    try {
      st = follow ? statSync(src.path) : lstatSync(src.path);
    } catch {
      throw fail(`could not find the file ${src.path}: no such file or directory`);
    }
    if (!st.isDirectory() && /\/\.?$/.test(src.path)) throw fail(`${src.path}: not a directory`);
    const name = basename(stripped(src.path)) || ".";
    local = { entries: walkHost(stripped(src.path), name, st), isDir: st.isDirectory(), name };
  }
  await withRoot(p, c, "write", async (r) => {
    const fd = openIn(r, stripped(dest), O.PATH);
    let t: Target = { exists: false, isDir: false, parentExists: false };
    if (fd !== null) {
      t = { exists: true, isDir: fstatSync(fd).isDirectory(), parentExists: true };
      closeSync(fd);
    } else {
      const pfd = openIn(r, posix.dirname(stripped(dest)), O.PATH | O.DIRECTORY);
      if (pfd !== null) closeSync(pfd);
      t.parentExists = pfd !== null;
    }
    if (!local) {
      // A tar stream is extracted into an existing directory, as Docker.
      if (!t.exists || !t.isDir) throw fail(`Could not find the directory ${dest} in container ${dst.container}`);
      const sink = containerSink(r, archive);
      try {
        for await (const e of tarSource(process.stdin)) await sink.write(e, posix.join(stripped(dest), e.name));
      } finally {
        sink.finish();
      }
      return;
    }
    // Resolved in the container again: a symlinked destination directory is the container's.
    const where = placement(local.isDir, src.path, dest, t);
    await copy(local.entries, containerSink(r, archive), local.name, where);
  });
  return 0;
}

function existsDir(p: string): boolean {
  try {
    return statSync(p || ".").isDirectory();
  } catch {
    return false;
  }
}
