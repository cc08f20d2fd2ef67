/**
 * A small, strict tar reader for the tests: it reads PAX records as bytes
 * (tar-stream's reader turns them into UTF-8 strings) and fails loudly on
 * anything malformed, so the tests check the archive, not a forgiving parser.
 */
export interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  pax: Record<string, Buffer>;
  xattrs: Record<string, Buffer>;
  data: Buffer;
}

const TYPES: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
};

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString("utf8");
}

function oct(b: Buffer, off: number, len: number): number {
  const s = str(b, off, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

function parsePax(body: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    const len = Number(body.subarray(i, sp).toString("ascii"));
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad PAX record length at ${i}`);
    const rec = body.subarray(sp + 1, i + len);
    if (rec[rec.length - 1] !== 0x0a) throw new Error(`PAX record at ${i} does not end in a newline`);
    const eq = rec.indexOf(0x3d);
    out[rec.subarray(0, eq).toString("utf8")] = Buffer.from(rec.subarray(eq + 1, rec.length - 1));
    i += len;
  }
  return out;
}

export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let pax: Record<string, Buffer> = {};
  let sawEnd = false;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    if (sum !== oct(h, 148, 8)) throw new Error(`bad header checksum at offset ${off}`);
    if (str(h, 257, 6) !== "ustar") throw new Error(`not a ustar header at offset ${off}`);
    const size = oct(h, 124, 12);
    const flag = String.fromCharCode(h[156] ?? 0);
    const data = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (flag === "x") {
      pax = { ...pax, ...parsePax(data) };
      continue;
    }
    const type = TYPES[flag];
    if (!type) throw new Error(`unexpected type flag '${flag}'`);
    const prefix = str(h, 345, 155);
    let name = (prefix ? prefix + "/" : "") + str(h, 0, 100);
    let linkname = str(h, 157, 100);
    if (pax.path) name = pax.path.toString("utf8");
    if (pax.linkpath) linkname = pax.linkpath.toString("utf8");
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(pax)) if (k.startsWith("SCHILY.xattr.")) xattrs[k.slice(13)] = v;
    out.push({
      name,
      type,
      mode: oct(h, 100, 8),
      uid: pax.uid ? Number(pax.uid.toString()) : oct(h, 108, 8),
      gid: pax.gid ? Number(pax.gid.toString()) : oct(h, 116, 8),
      mtime: pax.mtime ? Number(pax.mtime.toString()) : oct(h, 136, 12),
      size,
      linkname,
      devmajor: oct(h, 329, 8),
      devminor: oct(h, 337, 8),
      pax,
      xattrs,
      data: Buffer.from(data),
    });
    pax = {};
  }
  if (!sawEnd) throw new Error("archive has no end-of-archive blocks");
  return out;
}
