/**
 * Raw bytes of PAX records.
 *
 * tar-stream decodes every PAX value as UTF-8, which is right for paths but corrupts binary
 * xattr values: `SCHILY.xattr.security.capability` (file capabilities, e.g. ping's
 * cap_net_raw) is a binary struct, and U+FFFD replacements would make it invalid. tar-stream
 * offers no hook, so its `decodePax` is wrapped once to attach the undecoded values under a
 * symbol; the Extract class copies PAX objects with Object.assign, which keeps symbol keys.
 * If a tar-stream release moves that function, the wrap is skipped and `rawPax` returns
 * undefined: xattrs then fall back to the decoded string, and the binary-xattr test fails loudly.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const RAW = Symbol.for("box.mkroot.paxRaw");

type DecodePax = (buf: Buffer) => Record<string, string>;

function install(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const headers = require(join(dirname(require.resolve("tar-stream")), "headers.js")) as { decodePax?: DecodePax & { [RAW]?: true } };
    const orig = headers.decodePax;
    if (typeof orig !== "function") return false;
    if (orig[RAW]) return true;
    const wrapped = ((buf: Buffer) => {
      const out = orig(buf) as Record<string | symbol, unknown>;
      out[RAW] = splitRecords(buf);
      return out;
    }) as DecodePax & { [RAW]?: true };
    wrapped[RAW] = true;
    headers.decodePax = wrapped;
    return true;
  } catch {
    return false;
  }
}

/** `LEN KEY=VALUE\n` records, values kept as bytes. Malformed input ends the list, as tar-stream does. */
export function splitRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let rest = buf;
  while (rest.length) {
    const sp = rest.indexOf(0x20);
    if (sp <= 0) break;
    const len = parseInt(rest.subarray(0, sp).toString("latin1"), 10);
    if (!(len > sp + 1) || len > rest.length) break;
    const record = rest.subarray(sp + 1, len - 1); // drop the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    out.set(record.subarray(0, eq).toString("utf8"), Buffer.from(record.subarray(eq + 1)));
    rest = rest.subarray(len);
  }
  return out;
}

let installed: boolean | undefined;

/**
 * Wrap tar-stream's decodePax, once, before the first extract: on first use
 * rather than at load, so that looking images up does not load tar-stream.
 */
export function installPaxRaw(): boolean {
  return (installed ??= install());
}

/** The undecoded PAX records of an entry, when the wrap is in place. */
export function rawPax(pax: unknown): Map<string, Buffer> | undefined {
  if (pax === null || typeof pax !== "object") return undefined;
  const raw = (pax as Record<symbol, unknown>)[RAW];
  return raw instanceof Map ? (raw as Map<string, Buffer>) : undefined;
}
