/**
 * Safe extraction of one layer tar into a fresh directory.
 *
 * The directory is private (staging under tmp/, mode 0700 above it) and only this extractor
 * writes to it, so an in-memory map of what has been extracted mirrors what is on disk. Every
 * parent of an entry is checked against that map: a symlink or a non-directory on the way is an
 * error, never followed. The leaf is created with calls that do not follow symlinks either
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mknod, symlink, link, lchown, lutimes, lsetxattr), and anything
 * already at the leaf is removed first, so nothing this tar says can reach outside `root`.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { lsetxattr, makedev, mknod, S_IF, SysError } from "@box/sys";
import { fsError } from "./errors.js";
import { rawPax } from "./pax.js";

/** The fields of a tar-stream header this module reads. */
export interface TarHeader {
  name: string;
  type: string | null;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: unknown;
}

export interface TarEntry extends AsyncIterable<Buffer> {
  header: TarHeader;
}

/** A tar entry that could not be extracted; the message names the entry as it appears in the tar. */
export class EntryError extends Error {
  readonly entry: string;
  constructor(entry: string, cause: unknown) {
    super(`entry ${JSON.stringify(entry)}`, { cause: fsError(cause) });
    this.name = "EntryError";
    this.entry = entry;
  }
}

export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_META_PREFIX = ".wh..wh.";
export const WHITEOUT_OPAQUE = ".wh..wh..opq";
export const OPAQUE_XATTR = "trusted.overlay.opaque";

/**
 * The path of a tar entry relative to the layer root ("" is the root itself). Leading slashes are
 * dropped, as Docker joins every name onto the layer root; a `..` that climbs above the root is an
 * error rather than clamped, because such a tar was made to escape.
 */
export function entryPath(name: string): string {
  const parts: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (parts.length === 0) throw new Error(`path ${JSON.stringify(name)} climbs out of the layer root`);
      parts.pop();
      continue;
    }
    parts.push(c);
  }
  return parts.join("/");
}

type Kind = "dir" | "file" | "symlink" | "special";

export interface ExtractStats {
  /** Bytes of regular file content (hard links counted once). */
  size: number;
  entries: number;
  /** Things skipped that the caller may want to tell someone about (xattrs the filesystem refused). */
  warnings: string[];
}

interface Times {
  atime: number;
  mtime: number;
}

export class Extractor {
  readonly root: string;
  private readonly kinds = new Map<string, Kind>([["", "dir"]]);
  /** Directory times are set last: creating entries inside a directory changes its mtime. */
  private readonly dirTimes = new Map<string, Times>();
  private readonly stats: ExtractStats = { size: 0, entries: 0, warnings: [] };
  /** The entry being extracted, to name it when the stream under it fails. */
  current: string | undefined;
  /** The last entry extracted whole, to say where a corrupt tar went wrong. */
  last: string | undefined;

  constructor(root: string) {
    this.root = root;
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : join(this.root, rel);
  }

  /** Extract one entry, consuming its data. Errors name the entry. */
  async entry(e: TarEntry): Promise<void> {
    const h = e.header;
    this.current = h.name;
    try {
      await this.apply(h, e);
      // The parser goes on to the next header only once this entry's data is read.
      for await (const _ of e) void _;
    } catch (err) {
      throw new EntryError(h.name, err);
    }
    this.current = undefined;
    this.last = h.name;
    this.stats.entries++;
  }

  /** Set directory times, deepest first, and return what was extracted. */
  finish(): ExtractStats {
    const dirs = [...this.dirTimes.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, t] of dirs) {
      try {
        lutimesSync(this.abs(rel), t.atime, t.mtime);
      } catch (err) {
        throw new EntryError(rel === "" ? "." : rel, err);
      }
    }
    return this.stats;
  }

  private async apply(h: TarHeader, data: AsyncIterable<Buffer>): Promise<void> {
    const rel = entryPath(h.name);
    const base = rel.slice(rel.lastIndexOf("/") + 1);
    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(rel, base, h);

    switch (h.type) {
      case "directory":
        return this.directory(rel, h);
      case "file":
      case "contiguous-file":
        return this.file(rel, h, data);
      case "link":
        return this.hardlink(rel, h);
      case "symlink":
        return this.symlink(rel, h);
      case "character-device":
      case "block-device":
      case "fifo":
        return this.special(rel, h);
      default:
        throw new Error(
          `unsupported entry type${h.type ? ` ${h.type}` : ""}: GNU sparse, multi-volume and vendor entry types are not extracted`,
        );
    }
  }

  /**
   * Make sure every parent of `rel` is a directory this tar made (or one made here on its behalf,
   * 0755 root:root as Docker does). A symlink on the way is refused: following it is how a tar
   * writes outside its root (`link -> /etc`, then `link/passwd`).
   */
  private parents(rel: string): void {
    const parts = rel.split("/");
    parts.pop();
    let p = "";
    for (const c of parts) {
      p = p ? `${p}/${c}` : c;
      const kind = this.kinds.get(p);
      if (kind === "dir") continue;
      if (kind === "symlink") throw new Error(`parent ${JSON.stringify(p)} is a symlink; refusing to write through it`);
      if (kind !== undefined) throw new Error(`parent ${JSON.stringify(p)} is not a directory`);
      mkdirSync(this.abs(p), 0o755);
      chmodSync(this.abs(p), 0o755); // mkdir's mode passes through the umask
      this.kinds.set(p, "dir");
    }
  }

  /**
   * Clear the way for a new entry at `rel`. A later entry replaces an earlier one; a directory
   * over a directory merges, as tar does.
   */
  private replace(rel: string, kind: Kind): void {
    this.parents(rel);
    const old = this.kinds.get(rel);
    if (old === undefined) return;
    if (old === "dir" && kind === "dir") return;
    if (rel === "") throw new Error("cannot replace the layer root with a non-directory");
    if (old === "dir") {
      rmSync(this.abs(rel), { recursive: true, force: true });
      const prefix = `${rel}/`;
      for (const k of [...this.kinds.keys()]) if (k.startsWith(prefix)) this.kinds.delete(k);
      for (const k of [...this.dirTimes.keys()]) if (k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
    } else {
      unlinkSync(this.abs(rel));
    }
    this.kinds.delete(rel);
  }

  private directory(rel: string, h: TarHeader): void {
    this.replace(rel, "dir");
    const path = this.abs(rel);
    if (!this.kinds.has(rel)) {
      mkdirSync(path, 0o700);
      this.kinds.set(rel, "dir");
    }
    this.owner(path, h);
    this.xattrs(path, rel, h);
    chmodSync(path, perm(h)); // a known directory in the private tree: chmod cannot be led astray
    this.dirTimes.set(rel, times(h));
  }

  private async file(rel: string, h: TarHeader, data: AsyncIterable<Buffer>): Promise<void> {
    if (rel === "") throw new Error("a regular file cannot be the layer root");
    this.replace(rel, "file");
    const path = this.abs(rel);
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    this.kinds.set(rel, "file");
    try {
      let pos = 0;
      let end = 0;
      for await (const chunk of data) {
        end = writeSparse(fd, chunk, pos, end);
        pos += chunk.length;
      }
      const size = h.size ?? 0;
      if (pos !== size) throw new Error(`short data: got ${pos} of ${size} bytes`);
      // A hole at the end is not written at all: the size comes from ftruncate.
      if (end < size) ftruncateSync(fd, size);
      this.stats.size += size;
      const { uid, gid } = ids(h);
      // Order matters: chown clears setuid/setgid and file capabilities, so it goes first, then
      // xattrs (security.capability), then the mode.
      fchownSync(fd, uid, gid);
      this.xattrs(path, rel, h);
      fchmodSync(fd, perm(h));
      const t = times(h);
      futimesSync(fd, t.atime, t.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private hardlink(rel: string, h: TarHeader): void {
    const linkname = h.linkname ?? "";
    if (linkname === "") throw new Error("hard link without a target");
    const target = entryPath(linkname);
    // Only to a regular file this tar already extracted: a link to anything else (a host path, a
    // directory, something through a symlink) is what an escaping tar would use.
    if (this.kinds.get(target) !== "file") {
      throw new Error(`hard link target ${JSON.stringify(linkname)} is not a regular file extracted earlier in this layer`);
    }
    if (target === rel) throw new Error("hard link to itself");
    this.replace(rel, "file");
    if (this.kinds.get(target) !== "file") throw new Error(`hard link target ${JSON.stringify(linkname)} was removed by this entry`);
    // link(2) does not follow a symlink at either end; the target is a known regular file anyway.
    linkSync(this.abs(target), this.abs(rel));
    this.kinds.set(rel, "file");
    const path = this.abs(rel);
    const { uid, gid } = ids(h);
    lchownSync(path, uid, gid);
    this.xattrs(path, rel, h);
    chmodSync(path, perm(h));
    const t = times(h);
    lutimesSync(path, t.atime, t.mtime);
  }

  private symlink(rel: string, h: TarHeader): void {
    if (rel === "") throw new Error("a symlink cannot be the layer root");
    const target = h.linkname ?? "";
    if (target === "") throw new Error("symlink without a target");
    this.replace(rel, "symlink");
    const path = this.abs(rel);
    // The target is stored as written: it is only ever resolved inside the container's root.
    symlinkSync(target, path);
    this.kinds.set(rel, "symlink");
    const { uid, gid } = ids(h);
    lchownSync(path, uid, gid);
    this.xattrs(path, rel, h);
    const t = times(h);
    lutimesSync(path, t.atime, t.mtime);
  }

  private special(rel: string, h: TarHeader): void {
    if (rel === "") throw new Error("a device or fifo cannot be the layer root");
    this.replace(rel, "special");
    const path = this.abs(rel);
    const type = h.type === "character-device" ? S_IF.CHR : h.type === "block-device" ? S_IF.BLK : S_IF.FIFO;
    const dev = type === S_IF.FIFO ? 0n : makedev(h.devmajor ?? 0, h.devminor ?? 0);
    mknod(path, type | 0o600, dev);
    this.kinds.set(rel, "special");
    const { uid, gid } = ids(h);
    lchownSync(path, uid, gid);
    this.xattrs(path, rel, h);
    chmodSync(path, perm(h)); // mknod made it just now, in the private tree: not a symlink
    const t = times(h);
    lutimesSync(path, t.atime, t.mtime);
  }

  /**
   * OCI whiteouts become overlayfs ones: `.wh.NAME` is a 0/0 character device named NAME,
   * `.wh..wh..opq` marks its directory opaque with trusted.overlay.opaque=y.
   */
  private whiteout(rel: string, base: string, h: TarHeader): void {
    const dir = rel.slice(0, rel.length - base.length).replace(/\/$/, "");
    if (base === WHITEOUT_OPAQUE) {
      this.parents(rel);
      const path = this.abs(dir);
      lsetxattr(path, OPAQUE_XATTR, "y");
      return;
    }
    // Other .wh..wh. names are AUFS bookkeeping (hard-link dirs); Docker skips them too.
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === "" || name === "." || name === "..") throw new Error("whiteout without a name");
    const target = dir ? `${dir}/${name}` : name;
    this.replace(target, "special");
    const path = this.abs(target);
    mknod(path, S_IF.CHR, makedev(0, 0));
    this.kinds.set(target, "special");
    const { uid, gid } = ids(h);
    lchownSync(path, uid, gid);
  }

  private owner(path: string, h: TarHeader): void {
    const { uid, gid } = ids(h);
    lchownSync(path, uid, gid);
  }

  /** xattrs from SCHILY.xattr.* PAX records; ones the filesystem refuses are skipped, as Docker does. */
  private xattrs(path: string, rel: string, h: TarHeader): void {
    const pax = h.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    const raw = rawPax(pax);
    for (const key of Object.keys(pax)) {
      if (!key.startsWith("SCHILY.xattr.")) continue;
      const name = key.slice("SCHILY.xattr.".length);
      const value = raw?.get(key) ?? Buffer.from(pax[key] ?? "", "utf8");
      try {
        lsetxattr(path, name, value);
      } catch (err) {
        const e = err as SysError;
        if (e instanceof SysError && (e.errno === osConstants.errno.ENOTSUP || e.errno === osConstants.errno.EPERM || e.errno === osConstants.errno.EOPNOTSUPP)) {
          this.stats.warnings.push(`${rel || "."}: xattr ${name} not set: ${e.message}`);
          continue;
        }
        throw err;
      }
    }
  }

}

const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

/**
 * Write `chunk` at `pos`, skipping filesystem blocks that are all zeros: they read back as zeros
 * from a hole, so a mostly-empty disk image in a layer stays mostly empty on disk. Returns the
 * end of the data written so far (`written` if this chunk was all zeros).
 */
function writeSparse(fd: number, chunk: Buffer, pos: number, written: number): number {
  let runStart = -1;
  for (let i = 0; i < chunk.length; ) {
    const end = Math.min(chunk.length, i + BLOCK - ((pos + i) % BLOCK));
    const zero = chunk.subarray(i, end).equals(ZEROS.subarray(0, end - i));
    if (!zero && runStart < 0) runStart = i;
    if (zero && runStart >= 0) {
      writeAll(fd, chunk.subarray(runStart, i), pos + runStart);
      written = pos + i;
      runStart = -1;
    }
    i = end;
  }
  if (runStart >= 0) {
    writeAll(fd, chunk.subarray(runStart), pos + runStart);
    written = pos + chunk.length;
  }
  return written;
}

function writeAll(fd: number, buf: Buffer, pos: number): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off, pos + off);
}

function depth(rel: string): number {
  return rel === "" ? 0 : rel.split("/").length;
}

/** Permission bits with setuid, setgid and sticky, as Docker keeps them. */
function perm(h: TarHeader): number {
  return (h.mode ?? 0o644) & 0o7777;
}

/** uid/gid: PAX records carry ids too large for the octal fields; tar-stream leaves them to us. */
function ids(h: TarHeader): { uid: number; gid: number } {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const uid = pax.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0);
  const gid = pax.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0);
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xfffffffe) throw new Error(`invalid uid ${pax.uid ?? h.uid}`);
  if (!Number.isInteger(gid) || gid < 0 || gid > 0xfffffffe) throw new Error(`invalid gid ${pax.gid ?? h.gid}`);
  return { uid, gid };
}

/** Seconds, with the PAX records' sub-second precision when present. */
function times(h: TarHeader): Times {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const mtime = pax.mtime !== undefined && Number.isFinite(Number(pax.mtime)) ? Number(pax.mtime) : (h.mtime?.getTime() ?? 0) / 1000;
  const atime = pax.atime !== undefined && Number.isFinite(Number(pax.atime)) ? Number(pax.atime) : mtime;
  return { atime, mtime };
}
