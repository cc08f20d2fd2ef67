/**
 * PAX extended headers written by hand. tar-stream can write PAX records, but
 * it builds them as a UTF-8 string, and xattr values are bytes
 * (security.capability is a binary struct): a value with bytes >= 0x80 would
 * be re-encoded and corrupted. So the entries that need PAX get their
 * extended header from here, and tar-stream writes only plain ustar headers.
 */

/** Largest uid/gid tar-stream's 6-digit octal field holds. */
export const USTAR_ID_MAX = 0o777777;
/** tar-stream writes mtime through `| 0`, a signed 32-bit cast. */
export const USTAR_MTIME_MAX = 2 ** 31 - 1;

const encoder = new TextEncoder();

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Whether tar-stream can store `name` in ustar's name and prefix fields (its own splitting rule). */
export function fitsUstarName(name: string, isDir: boolean): boolean {
  if (!isAscii(name)) return false;
  let n = isDir && !name.endsWith("/") ? name + "/" : name;
  let prefix = "";
  while (n.length > 100) {
    const i = n.indexOf("/");
    if (i === -1) return false;
    prefix += prefix ? "/" + n.slice(0, i) : n.slice(0, i);
    n = n.slice(i + 1);
  }
  return n.length <= 100 && prefix.length <= 155;
}

export function fitsUstarLink(linkname: string): boolean {
  return isAscii(linkname) && linkname.length <= 100;
}

/**
 * A stand-in for the ustar name field when the real name is in a PAX record:
 * only readers without PAX support (none that matter) ever see it.
 */
export function ustarStandIn(name: string, max = 99): string {
  const base = name.replace(/\/+$/, "").split("/").pop() || "_";
  const ascii = base.replace(/[^\x20-\x7e]/g, "_");
  return ascii.length > max ? ascii.slice(ascii.length - max) : ascii;
}

/** One record: "<len> <key>=<value>\n", where len counts the whole record, itself included. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([encoder.encode(` ${key}=`), typeof value === "string" ? encoder.encode(value) : value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "ascii");
}

/**
 * The 'x' header block, its records and the padding to 512 bytes: ready to go
 * into the archive right before the entry it describes.
 */
export function paxHeader(entryName: string, records: Buffer[], mtime: number): Buffer {
  const body = Buffer.concat(records);
  const h = Buffer.alloc(512);
  // GNU tar and Go name the header after the entry; the name is not used.
  h.write(`PaxHeaders.0/${ustarStandIn(entryName, 86)}`, 0, 100, "ascii");
  octal(h, 0o644, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, body.length, 124, 12);
  octal(h, Math.min(Math.max(mtime, 0), USTAR_MTIME_MAX), 136, 12);
  h.write("        ", 148, 8, "ascii");
  h.write("x", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([h, body, Buffer.alloc(pad)]);
}
