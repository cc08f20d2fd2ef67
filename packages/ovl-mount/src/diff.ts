import fs from "node:fs";
import path from "node:path";
import { once } from "node:events";
import type tar from "tar-stream";
import { llistxattr, lgetxattr, SysError } from "@box/sys";
import { fsCall } from "./fserr.js";
import {
  USTAR_ID_MAX,
  USTAR_MTIME_MAX,
  fitsUstarLink,
  fitsUstarName,
  paxHeader,
  paxRecord,
  ustarStandIn,
} from "./pax.js";

export interface DiffOptions {
  /**
   * Clamp every mtime to at most this many seconds since the epoch, as
   * SOURCE_DATE_EPOCH does for reproducible builds.
   */
  mtime?: number;
  /**
   * The upper belongs to a container with these user namespace maps
   * (inside -> outside, as /proc/PID/uid_map): its files carry host ids,
   * and the layer gets the container's. A host id outside the maps is
   * written as 65534, the overflow id the container saw it as.
   */
  idmap?: { uid: IdRange[]; gid: IdRange[] };
}

export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

const OVERFLOW_ID = 65534;

function toInside(map: IdRange[], id: number): number {
  const m = map.find((r) => id >= r.outside && id < r.outside + r.count);
  return m ? m.inside + (id - m.outside) : OVERFLOW_ID;
}

/** OCI image-spec "layer" whiteout names (the AUFS convention). */
const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

/** Entries with a body are written in chunks of this size. */
const CHUNK = 1 << 20;

function xattrsOf(p: string): Map<string, Buffer> {
  let names: string[];
  try {
    names = llistxattr(p);
  } catch (err) {
    // A file system without xattrs has none to record.
    if (err instanceof SysError && (err.code === "ENOTSUP" || err.code === "EOPNOTSUPP")) return new Map();
    throw err;
  }
  const out = new Map<string, Buffer>();
  for (const name of names.sort()) {
    const v = lgetxattr(p, name);
    if (v !== null) out.set(name, Buffer.from(v));
  }
  return out;
}

/**
 * xattrs that are not the layer's content: overlayfs' own bookkeeping
 * (trusted.overlay.*, turned into whiteouts and opaque markers or dropped),
 * and SELinux labels, which belong to the host's policy, not the image
 * (Docker stopped putting them in layers for the same reason).
 */
function isContentXattr(name: string): boolean {
  return !name.startsWith("trusted.overlay.") && name !== "security.selinux";
}

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** Entry names sorted by their bytes, so the archive does not depend on the locale or on UTF-16 order. */
function sortedNames(dir: string): string[] {
  const names = fsCall(() => fs.readdirSync(dir));
  return names
    .map((n) => ({ n, b: Buffer.from(n) }))
    .sort((a, b) => Buffer.compare(a.b, b.b))
    .map((x) => x.n);
}

type Hdr = Partial<tar.Header> & { name: string };
type Sink = ReturnType<tar.Pack["entry"]>;

interface Item {
  header: Hdr;
  pax: Buffer[];
  /** Path to read the body from, for regular files. */
  body?: string;
}

class Writer {
  private readonly seen = new Map<string, string>();
  constructor(
    private readonly pack: tar.Pack,
    private readonly clamp: number | undefined,
    private readonly idmap?: DiffOptions["idmap"],
  ) {}

  private mtime(st: fs.BigIntStats): number {
    let s = Number(st.mtimeNs / 1_000_000_000n);
    if (s < 0) s = 0;
    return this.clamp !== undefined && s > this.clamp ? this.clamp : s;
  }

  /** The tar entries for `rel` (its name in the layer) at `abs`: none for a socket, two for an opaque directory. */
  describe(rel: string, abs: string, st: fs.BigIntStats, xattrs: Map<string, Buffer>): Item[] {
    const mode = Number(st.mode);
    const fmt = mode & S_IFMT;
    const base: Hdr = {
      name: rel,
      mode: mode & 0o7777,
      uid: this.idmap ? toInside(this.idmap.uid, Number(st.uid)) : Number(st.uid),
      gid: this.idmap ? toInside(this.idmap.gid, Number(st.gid)) : Number(st.gid),
      mtime: new Date(this.mtime(st) * 1000),
    };
    const content = [...xattrs].filter(([k]) => isContentXattr(k));

    if (xattrs.has("trusted.overlay.redirect")) {
      throw new Error(`${abs}: a renamed directory (trusted.overlay.redirect) is no layer content; mount the upper with redirect_dir=off`);
    }
    if (xattrs.has("trusted.overlay.metacopy")) {
      throw new Error(`${abs}: a metadata-only copy-up (trusted.overlay.metacopy) has no data; mount the upper with metacopy=off`);
    }

    // overlayfs deletes with a 0/0 character device (or, since Linux 6.7, an
    // empty file marked trusted.overlay.whiteout). Many of them may be links
    // to one shared inode, so whiteouts never become hardlink entries.
    const isWhiteout =
      (fmt === S_IFCHR && st.rdev === 0n) || (fmt === S_IFREG && st.size === 0n && xattrs.has("trusted.overlay.whiteout"));
    if (isWhiteout) {
      const dir = path.posix.dirname(rel);
      const name = (dir === "." ? "" : dir + "/") + WHITEOUT + path.posix.basename(rel);
      // As Docker writes them: an empty regular file, mode 0600, the owner kept.
      return [this.item({ ...base, name, type: "file", mode: 0o600, size: 0 }, [])];
    }

    switch (fmt) {
      case S_IFDIR: {
        const items = [this.item({ ...base, type: "directory" }, content)];
        // "y" marks an opaque directory; "x" (Linux 6.7) only says it holds xattr whiteouts.
        if (xattrs.get("trusted.overlay.opaque")?.toString() === "y") {
          items.push(this.item({ ...base, name: `${rel}/${OPAQUE}`, type: "file", mode: mode & 0o777, size: 0 }, []));
        }
        return items;
      }
      case S_IFSOCK:
        // A socket is a live endpoint, not content; tar cannot hold one.
        return [];
      default:
        break;
    }

    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.seen.get(key);
      if (first !== undefined) return [this.item({ ...base, type: "link", linkname: first, size: 0 }, content)];
      this.seen.set(key, rel);
    }
    switch (fmt) {
      case S_IFREG:
        return [{ ...this.item({ ...base, type: "file", size: Number(st.size) }, content), body: abs }];
      case S_IFLNK:
        return [this.item({ ...base, type: "symlink", linkname: fsCall(() => fs.readlinkSync(abs)) }, content)];
      case S_IFCHR:
      case S_IFBLK:
        return [
          this.item(
            {
              ...base,
              type: fmt === S_IFCHR ? "character-device" : "block-device",
              devmajor: major(st.rdev),
              devminor: minor(st.rdev),
            },
            content,
          ),
        ];
      case S_IFIFO:
        return [this.item({ ...base, type: "fifo" }, content)];
      default:
        throw new Error(`${abs}: unknown file type 0${fmt.toString(8)}`);
    }
  }

  /**
   * Move what ustar cannot hold (long or non-ASCII names, big ids, mtimes
   * past 2038, xattrs) into PAX records, leaving tar-stream a header it can
   * write as plain ustar.
   */
  private item(h: Hdr, xattrs: [string, Buffer][]): Item {
    const pax: Buffer[] = [];
    // Directories end in "/", as Docker and GNU tar write them (tar-stream
    // means to add it but checks a field its own pack() never sets).
    if (h.type === "directory" && !h.name.endsWith("/")) h.name += "/";
    if (!fitsUstarName(h.name, false)) {
      pax.push(paxRecord("path", h.name));
      h.name = ustarStandIn(h.name);
    }
    if (h.linkname && !fitsUstarLink(h.linkname)) {
      pax.push(paxRecord("linkpath", h.linkname));
      h.linkname = ustarStandIn(h.linkname);
    }
    for (const key of ["uid", "gid"] as const) {
      const v = h[key] ?? 0;
      if (v > USTAR_ID_MAX) {
        pax.push(paxRecord(key, String(v)));
        h[key] = USTAR_ID_MAX;
      }
    }
    const secs = (h.mtime?.getTime() ?? 0) / 1000;
    if (secs > USTAR_MTIME_MAX) {
      pax.push(paxRecord("mtime", String(secs)));
      h.mtime = new Date(USTAR_MTIME_MAX * 1000);
    }
    for (const [k, v] of xattrs) pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
    return { header: h, pax };
  }

  async write(item: Item): Promise<void> {
    if (item.pax.length) {
      // Between entries tar-stream has nothing in flight (each entry is
      // awaited), so bytes pushed here land right before the next header.
      this.pack.push(paxHeader(item.header.name, item.pax, (item.header.mtime?.getTime() ?? 0) / 1000));
    }
    await new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry(item.header, (err) => (err ? reject(err) : resolve()));
      if (item.body === undefined) {
        // A "file" entry waits for its body even when it is empty.
        if (item.header.type === "file") sink.end(undefined);
        return;
      }
      copyBody(item.body, item.header.size ?? 0, sink).then(
        () => sink.end(undefined),
        (err: unknown) => {
          sink.destroy(err as Error);
          reject(err);
        },
      );
    });
  }
}

/** Write exactly `size` bytes of `file` into `sink`, honouring backpressure. */
async function copyBody(file: string, size: number, sink: Sink): Promise<void> {
  const fd = fsCall(() => fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW));
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const n = fsCall(() => fs.readSync(fd, buf, 0, buf.length, null));
      if (n === 0) throw new Error(`read ${file}: file shrank while being archived`);
      left -= n;
      if (!sink.write(n === buf.length ? buf : buf.subarray(0, n))) await once(sink as unknown as NodeJS.EventEmitter, "drain");
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function walk(w: Writer, root: string, rel: string): Promise<void> {
  const dir = rel ? path.join(root, rel) : root;
  for (const name of sortedNames(dir)) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = path.join(root, r);
    const st = fsCall(() => fs.lstatSync(abs, { bigint: true }));
    for (const item of w.describe(r, abs, st, xattrsOf(abs))) await w.write(item);
    if (st.isDirectory()) await walk(w, root, r);
  }
}

/**
 * Write `upper` (an overlayfs upper directory) to `out` as an OCI layer tar:
 * entries in byte order of their names, whiteouts and opaque markers in the
 * OCI form. Resolves once the whole archive is written; `out` is not ended.
 */
export async function writeDiff(upper: string, out: NodeJS.WritableStream, opts: DiffOptions = {}): Promise<void> {
  if (opts.mtime !== undefined && !(Number.isInteger(opts.mtime) && opts.mtime >= 0)) {
    throw new Error(`diff: mtime ${opts.mtime} is not a whole number of seconds since the epoch`);
  }
  const st = fsCall(() => fs.statSync(upper));
  if (!st.isDirectory()) throw new Error(`diff ${upper}: not a directory`);

  // Loaded on first use: box run imports this package for its mount, not its tar.
  const { pack: newPack } = (await import("tar-stream")).default;
  const pack = newPack();
  let outError: unknown;
  const onError = (err: unknown): void => {
    outError ??= err;
    pack.destroy(err as Error);
  };
  out.on("error", onError);
  const pump = (async () => {
    for await (const chunk of pack) {
      if (outError !== undefined) break;
      if (!out.write(chunk as Buffer)) await once(out as unknown as NodeJS.EventEmitter, "drain");
    }
  })();
  try {
    try {
      await walk(new Writer(pack, opts.mtime, opts.idmap), upper, "");
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
      await pump.catch(() => {});
      throw err;
    }
    await pump;
    if (outError !== undefined) throw outError;
  } catch (cause) {
    throw new Error(`diff ${upper}`, { cause: outError ?? cause });
  } finally {
    out.removeListener("error", onError);
  }
}
