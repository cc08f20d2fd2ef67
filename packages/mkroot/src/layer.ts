/**
 * One pass over a layer stream: the bytes as given are hashed and written to the blob file, the
 * tar (after gunzip, if the input was gzip) is hashed for the diff_id and extracted, all at once.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, open } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { createZstdDecompress, detectCompression, peek, SNIFF_BYTES, toReadable } from "./compression.js";
import { EntryError, Extractor, type TarEntry } from "./extract.js";
import { installPaxRaw } from "./pax.js";

export const MEDIA_TYPE_LAYER = "application/vnd.oci.image.layer.v1.tar";
export const MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const MEDIA_TYPE_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

export interface UnpackOptions {
  /** Accept zstd layers (registry pulls); import keeps refusing them by name. */
  zstd?: boolean;
  /** Fail as soon as the input is longer than this (a registry's descriptor size). */
  maxBytes?: number;
  /**
   * fsync the blob file before returning (default true). Pull turns it off: the unpacked files
   * beside the blob are not synced either, so the sync bought no durability for the layer as a
   * whole and cost a quarter of a large pull's time.
   */
  sync?: boolean;
  /** Told how many input bytes have been read so far, as they arrive. */
  onBytes?: (n: number) => void;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface UnpackedLayer {
  /** The blob as imported (gzip or plain tar), now at `blobPath`. */
  blob: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Bytes of regular-file content in the layer. */
  size: number;
  warnings: string[];
}

class Hasher extends Transform {
  readonly hash = createHash("sha256");
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Extract `input` into `dir` (which must not exist; it is created 0755) and copy it to
 * `blobPath`. On failure the caller removes both; nothing here is visible outside staging.
 */
export async function unpackLayer(input: NodeJS.ReadableStream | Readable, dir: string, blobPath: string, opts: UnpackOptions = {}): Promise<UnpackedLayer> {
  const src = toReadable(input);
  const { head, ended } = await peek(src, SNIFF_BYTES);
  const compression = detectCompression(head, opts.zstd ?? false);
  const source = ended ? Readable.from(head.length ? [head] : [], { objectMode: false }) : src;

  await mkdir(dir, 0o755);
  // The layer root is the container's `/`: 0755 unless the tar's own "./" entry says otherwise.
  await chmod(dir, 0o755);

  const blobFile = await open(blobPath, "wx", 0o600);
  const blobHash = new Hasher();
  let blobBytes = 0;
  // Tee of the raw input into the blob file, one chunk at a time so the file keeps pace.
  // Writes to the blob file run on libuv's pool while the chunk goes on to be unpacked; only when
  // more than WRITE_AHEAD bytes are waiting to be written does the stream wait for the disk.
  const WRITE_AHEAD = 8 << 20;
  let pending = 0;
  let written = 0;
  let writeError: unknown;
  let chain: Promise<void> = Promise.resolve();
  let waiter: (() => void) | undefined;
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (writeError !== undefined) {
        cb(writeError as Error);
        return;
      }
      if (opts.maxBytes !== undefined && blobBytes + chunk.length > opts.maxBytes) {
        cb(new Error(`blob is longer than the ${opts.maxBytes} bytes its descriptor says`));
        return;
      }
      blobBytes += chunk.length;
      pending += chunk.length;
      chain = chain.then(async () => {
        if (writeError !== undefined) return;
        try {
          await blobFile.write(chunk);
          written += chunk.length;
        } catch (e) {
          writeError = e;
        }
        pending -= chunk.length;
        waiter?.();
      });
      opts.onBytes?.(blobBytes);
      if (pending <= WRITE_AHEAD) {
        cb(null, chunk);
        return;
      }
      waiter = () => {
        if (pending > WRITE_AHEAD && writeError === undefined) return;
        waiter = undefined;
        if (writeError !== undefined) cb(writeError as Error);
        else cb(null, chunk);
      };
    },
    flush(cb) {
      chain.then(() => cb(writeError as Error | undefined), cb);
    },
  });
  const tarHash = new Hasher();
  // Loaded on first use: a container run looks layers up but unpacks none.
  const { extract } = await import("tar-stream");
  installPaxRaw();
  const ex = extract();
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [source, blobHash, tee];
  if (compression === "gzip") stages.push(createGunzip({ chunkSize: 256 * 1024 }));
  if (compression === "zstd") stages.push(await createZstdDecompress());
  stages.push(tarHash, ex as unknown as NodeJS.WritableStream);

  const extractor = new Extractor(dir);
  let feedError: unknown;
  let loopError: unknown;
  const fed = (pipeline as (...s: unknown[]) => Promise<void>)(...stages).catch((e: unknown) => {
    feedError = e;
  });
  try {
    for await (const entry of ex as unknown as AsyncIterable<TarEntry>) await extractor.entry(entry);
  } catch (e) {
    loopError = e;
    // Stop reading: the caller's stream (stdin, a file) is not read to its end after a failure.
    source.destroy();
  }
  await fed;
  await chain;
  let stats;
  try {
    if (loopError !== undefined || feedError !== undefined) throw failure(loopError, feedError, extractor, compression);
    stats = extractor.finish();
    if (opts.sync ?? true) await blobFile.sync();
  } finally {
    await blobFile.close();
  }
  if (writeError !== undefined) throw writeError;
  if (written !== blobHash.size) throw new Error(`blob ${blobPath}: wrote ${written} of ${blobHash.size} bytes`);
  return {
    blob: {
      mediaType: compression === "gzip" ? MEDIA_TYPE_LAYER_GZIP : compression === "zstd" ? MEDIA_TYPE_LAYER_ZSTD : MEDIA_TYPE_LAYER,
      digest: `sha256:${blobHash.hash.digest("hex")}`,
      size: blobHash.size,
    },
    diffId: `sha256:${tarHash.hash.digest("hex")}`,
    size: stats.size,
    warnings: stats.warnings,
  };
}

/**
 * One error for the user out of what the entry loop and the stream pipeline saw: an entry's own
 * error wins; a stream error (truncation, bad gzip) names the entry being read when it struck.
 */
function failure(loopError: unknown, feedError: unknown, at: Pick<Extractor, "current" | "last">, compression: string): unknown {
  if (loopError instanceof EntryError) {
    const cause = loopError.cause;
    const described = describeStreamError(cause, compression);
    return described === cause ? loopError : new EntryError(loopError.entry, described);
  }
  const premature = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE";
  const raw = loopError !== undefined && !premature(loopError) ? loopError : (feedError ?? loopError);
  if (raw instanceof Error && /^Invalid tar header/.test(raw.message)) {
    return new Error(
      at.last === undefined ? "not a tar archive: invalid tar header" : `corrupt tar: invalid tar header after entry ${JSON.stringify(at.last)}`,
    );
  }
  const err = describeStreamError(raw, compression);
  return at.current !== undefined ? new EntryError(at.current, err) : err;
}

/** tar-stream's and zlib's messages, said in terms of what the user gave us. */
function describeStreamError(e: unknown, compression: string): unknown {
  if (!(e instanceof Error)) return e;
  if (e instanceof EntryError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (e.message === "Unexpected end of data") return new Error("unexpected end of data: the tar is truncated");
  if (/^Invalid tar header/.test(e.message)) return new Error("invalid tar header");
  if (compression === "gzip" && typeof code === "string" && code.startsWith("Z_")) {
    return new Error(`gzip: ${e.message} (${code})`);
  }
  if (code === "ERR_STREAM_PREMATURE_CLOSE") return new Error("input closed before the tar ended", { cause: e });
  return e;
}
