/**
 * `mkroot push`: send a stored image to a registry, byte for byte (the manifest, config and
 * layer blobs keep their digests). Each blob is checked first (HEAD: "Layer already exists"),
 * then mounted from another repository of the same registry that a stored image came from
 * ("Mounted from"), and only then uploaded: monolithic for small blobs, chunked PATCHes for
 * large ones. The manifest goes last, so a failed push never leaves a tag pointing at missing blobs.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { getCredentials, RegistryClient } from "@box/registry";
import { fsError } from "./errors.js";
import type { Descriptor } from "./layer.js";
import { inParallel, shortHex, type RegistryOptions } from "./pull.js";
import { DEFAULT_TAG, familiarName, parseReference, registryOf, splitTaggedName } from "./reference.js";
import type { Store } from "./store.js";

export interface PushOptions extends RegistryOptions {
  /** Blobs above this many bytes go up in chunks of this size (default $BOX_UPLOAD_CHUNK_SIZE, or 32 MiB). */
  chunkSize?: number;
  concurrency?: number;
}

export interface PushResult {
  tag: string;
  digest: string;
  size: number;
}

export const DEFAULT_CHUNK = 32 << 20;

export async function push(store: Store, reference: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(reference);
  if (ref.digest !== undefined) throw new Error(`push ${reference}: cannot push to a digest; give NAME[:TAG]`);
  const tag = ref.tag ?? DEFAULT_TAG;
  const name = `${familiarName(ref.name)}:${tag}`;
  const { host, repository } = registryOf(ref.name);
  const client = new RegistryClient(host, { credentials: getCredentials(host), insecureRegistries: opts.insecureRegistries ?? [] });
  try {
    const { entry, sources } = await store.read(async (index, entries) => {
      const e = store.resolve(name, index, entries);
      // Repositories on the same registry that stored images (with the blob) came from.
      const sources = new Map<string, string[]>();
      for (const other of entries) {
        for (const n of other.names) {
          const loc = registryOf(splitTaggedName(n).repository);
          if (loc.host !== host || loc.repository === repository) continue;
          for (const l of [other.manifest.config, ...other.manifest.layers]) {
            const list = sources.get(l.digest) ?? [];
            if (!list.includes(loc.repository)) list.push(loc.repository);
            sources.set(l.digest, list);
          }
        }
      }
      return { entry: e, sources };
    });
    opts.onStatus?.(`The push refers to repository [${host}/${repository}]`);
    const manifestBytes = await readFile(store.blobPath(entry.digest)).catch((e: unknown) => {
      throw fsError(e);
    });
    const blobs: Descriptor[] = [...entry.manifest.layers];
    for (const l of blobs) opts.onProgress?.({ id: shortHex(l.digest), status: "Preparing" });
    await inParallel([...blobs, entry.manifest.config], opts.concurrency ?? 4, async (desc, i) => {
      const isLayer = i < blobs.length;
      const id = shortHex(desc.digest);
      const say = (status: "Pushing" | "Pushed" | "Layer already exists" | "Mounted from", extra: { current?: number; total?: number; detail?: string } = {}) => {
        if (isLayer) opts.onProgress?.({ id, status, ...extra });
      };
      if (await client.blobExists(repository, desc.digest)) {
        say("Layer already exists");
        return;
      }
      let location: string | undefined;
      for (const from of (sources.get(desc.digest) ?? []).slice(0, 3)) {
        const r = await client.mountBlob(repository, desc.digest, from);
        if (r === "mounted") {
          say("Mounted from", { detail: from });
          return;
        }
        location = r;
        break;
      }
      location ??= await client.startUpload(repository);
      const path = store.blobPath(desc.digest);
      const chunk = opts.chunkSize ?? (Number(process.env.BOX_UPLOAD_CHUNK_SIZE) || DEFAULT_CHUNK);
      say("Pushing", { current: 0, total: desc.size });
      if (desc.size <= chunk) {
        await client.putBlob(repository, location, desc.digest, desc.size, createReadStream(path));
      } else {
        for (let start = 0; start < desc.size; start += chunk) {
          const len = Math.min(chunk, desc.size - start);
          location = await client.patchChunk(repository, location, start, createReadStream(path, { start, end: start + len - 1 }), len);
          say("Pushing", { current: start + len, total: desc.size });
        }
        await client.finishUpload(repository, location, desc.digest);
      }
      say("Pushed");
    });
    const mediaType = entry.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json";
    await client.putManifest(repository, tag, manifestBytes, mediaType);
    await store.recordRepoDigest(name, entry.digest);
    return { tag, digest: entry.digest, size: manifestBytes.length };
  } catch (e) {
    throw new Error(`push ${reference}`, { cause: fsError(e) });
  } finally {
    await client.close();
  }
}
