import { Readable, Transform } from "node:stream";

export type Compression = "gzip" | "zstd" | "none";

/** Magic numbers of the compressions a layer might come in, and what to do about each. */
const MAGICS: Array<{ name: string; magic: number[]; hint: string }> = [
  { name: "zstd", magic: [0x28, 0xb5, 0x2f, 0xfd], hint: "zstd -d" },
  { name: "xz", magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], hint: "xz -d" },
  { name: "bzip2", magic: [0x42, 0x5a, 0x68], hint: "bzip2 -d" },
  { name: "lz4", magic: [0x04, 0x22, 0x4d, 0x18], hint: "lz4 -d" },
];

export const SNIFF_BYTES = 6;

/**
 * Plain tar or gzip (or zstd, where `zstd` is allowed: registry layers), by magic number; other
 * compressions are refused with the command that undoes them.
 */
export function detectCompression(head: Buffer, allowZstd = false): Compression {
  if (head.length === 0) throw new Error("empty input: expected a tar archive (plain or gzip)");
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (allowZstd && head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  for (const { name, magic, hint } of MAGICS) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) {
      throw new Error(`${name}-compressed input is not supported: decompress it first (${hint}) or use gzip`);
    }
  }
  return "none";
}

/** A Node Readable for anything stream-like: old-style streams are wrapped. */
export function toReadable(input: NodeJS.ReadableStream | Readable): Readable {
  return input instanceof Readable ? input : new Readable().wrap(input);
}

/**
 * Read the first `n` bytes (fewer at end of input) and push them back, so the stream is whole for
 * whoever reads it next. Returns the bytes and whether the input already ended.
 */
export async function peek(r: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const c = r.read() as Buffer | string | null;
    if (c !== null) {
      const b = typeof c === "string" ? Buffer.from(c) : c;
      chunks.push(b);
      len += b.length;
      continue;
    }
    if (r.readableEnded) {
      ended = true;
      break;
    }
    ended = await new Promise<boolean>((resolve, reject) => {
      const done = (value: boolean) => {
        r.off("readable", onReadable);
        r.off("end", onEnd);
        r.off("error", onError);
        r.off("close", onEnd);
        resolve(value);
      };
      const onReadable = () => done(false);
      const onEnd = () => done(true);
      const onError = (e: Error) => {
        r.off("readable", onReadable);
        r.off("end", onEnd);
        r.off("close", onEnd);
        reject(e);
      };
      r.on("readable", onReadable);
      r.once("end", onEnd);
      r.once("close", onEnd);
      r.once("error", onError);
    });
    if (ended) break;
  }
  const head = Buffer.concat(chunks);
  if (!ended && head.length) r.unshift(head);
  return { head, ended };
}

/**
 * A zstd decoder as a Node stream, over fzstd (pure JS; Node 20's zlib has no zstd). Frames are
 * decoded as they arrive, so a layer streams from the registry into the extractor.
 */
export async function createZstdDecompress(): Promise<Transform> {
  const { Decompress } = await import("fzstd");
  let push: ((b: Buffer) => void) | undefined;
  const d = new Decompress((chunk) => push?.(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      push = (b) => this.push(b);
      try {
        d.push(chunk);
        cb();
      } catch (e) {
        cb(new Error(`zstd: ${(e as Error).message}`));
      }
    },
    flush(cb) {
      push = (b) => this.push(b);
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(new Error(`zstd: ${(e as Error).message}`));
      }
    },
  });
}
