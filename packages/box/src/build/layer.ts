/**
 * An upper directory into the image store as one layer: ovl-mount's writeDiff streams the OCI
 * layer tar straight into mkroot's unpacker, with no tar file in between.
 */
import { PassThrough } from "node:stream";
import { writeDiff, type DiffOptions } from "@box/ovl-mount";
import type { Store, StoredLayer } from "@box/mkroot";

/** SOURCE_DATE_EPOCH as whole seconds, for writeDiff's mtime clamp; undefined when unset. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`SOURCE_DATE_EPOCH=${v}: not a whole number of seconds since the epoch`);
  return Number(v);
}

/** Hand `fn` a stream of `upper` as a layer tar; the stream fails if writeDiff fails. */
export async function withDiffStream<T>(upper: string, mtime: number | undefined, fn: (tar: PassThrough) => Promise<T>, idmap?: DiffOptions["idmap"]): Promise<T> {
  const pass = new PassThrough({ highWaterMark: 1 << 20 });
  let diffError: unknown;
  const writing = writeDiff(upper, pass, { ...(mtime !== undefined ? { mtime } : {}), ...(idmap ? { idmap } : {}) }).then(
    () => {
      pass.end();
    },
    (e: unknown) => {
      diffError = e;
      pass.destroy(e as Error);
    },
  );
  try {
    return await fn(pass);
  } catch (e) {
    throw diffError ?? e;
  } finally {
    // A consumer that gave up leaves writeDiff waiting on backpressure: let it finish into nothing.
    if (!pass.readableEnded) pass.resume();
    await writing;
  }
}

/** `upper` as a stored layer (blob + unpacked lower dir); `idmap` for a remapped container's upper. */
export function storeUpper(store: Store, upper: string, mtime: number | undefined, idmap?: DiffOptions["idmap"]): Promise<StoredLayer> {
  return withDiffStream(upper, mtime, (tar) => store.addLayer(tar, (w) => process.stderr.write(`WARNING: ${w}\n`)), idmap);
}
