/**
 * `mkroot pull`: fetch an image from a registry into the store.
 *
 * Every layer streams from the registry straight into the extractor and into its blob file in
 * one pass (digest, size and diff_id computed on the way), several layers at once, each into
 * its own staging directory. Only when every blob has checked out are blobs, layers, config and
 * manifest renamed into place and the name written to index.json, under the store's lock: a
 * wrong digest, a truncated blob, a dropped connection or a full disk leave nothing visible, and
 * a later pull starts clean. Layers already in the store (same diff_id and blob) are not fetched.
 */
import { createHash } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  getCredentials,
  isImageManifest,
  isIndex,
  parsePlatform,
  formatPlatform,
  pickPlatform,
  RegistryClient,
  RegistryError,
  type ManifestDescriptor,
  type Platform,
} from "@box/registry";
import { goArch, type OciImageConfig } from "./config.js";
import { errCode, fsError } from "./errors.js";
import { unpackLayer, type Descriptor } from "./layer.js";
import { withLock } from "./lock.js";
import { DEFAULT_TAG, familiarName, parseReference, registryOf } from "./reference.js";
import type { Image, OciManifest, Store } from "./store.js";

export type ProgressStatus =
  | "Waiting"
  | "Downloading"
  | "Download complete"
  | "Extracting"
  | "Pull complete"
  | "Already exists"
  | "Retrying"
  | "Preparing"
  | "Pushing"
  | "Pushed"
  | "Layer already exists"
  | "Mounted from";

/** One line of Docker's progress stream: a layer (12 hex digits) and what is happening to it. */
export interface ProgressEvent {
  id: string;
  status: ProgressStatus;
  current?: number;
  total?: number;
  /** "Mounted from REPO", "Retrying in 1 second"... */
  detail?: string;
}

export interface RegistryOptions {
  /** Hosts besides 127.0.0.0/8 (and BOX_INSECURE_REGISTRIES) that may be plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  onProgress?: (e: ProgressEvent) => void;
  /** Told what is about to happen, as Docker's first lines ("latest: Pulling from library/alpine"). */
  onStatus?: (line: string) => void;
}

export interface PullOptions extends RegistryOptions {
  /** OS/ARCH[/VARIANT] to pick out of an index; default linux/<this machine's arch>. */
  platform?: string;
  /** Layers fetched at once (default 4). */
  concurrency?: number;
}

export interface PullResult {
  image: Image;
  /** The stored name (`NAME:TAG`), or undefined for a pull by digest alone. */
  name: string | undefined;
  /** The digest the reference resolved to (the index's, when the registry served one). */
  digest: string;
  /** False when the store already had this manifest under this name. */
  updated: boolean;
  /** The reference fully qualified, as Docker prints it last: docker.io/library/alpine:latest. */
  canonical: string;
}

const RETRIES = 3;

export function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function shortHex(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

class DigestMismatchError extends Error {}

function defaultPlatform(): Platform {
  return { os: "linux", architecture: goArch() };
}

/** A pool of `n` at once, keeping order of results; the first failure is thrown after all settle. */
export async function inParallel<T, R>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw failed.e;
  return out;
}

export async function pull(store: Store, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const platform = opts.platform ? parsePlatform(opts.platform) : defaultPlatform();
  const { host, repository } = registryOf(ref.name);
  const tag = ref.digest === undefined ? (ref.tag ?? DEFAULT_TAG) : undefined;
  const name = tag !== undefined ? `${familiarName(ref.name)}:${tag}` : undefined;
  const canonical = `${host}/${repository}${tag !== undefined ? `:${tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
  const client = new RegistryClient(host, { credentials: getCredentials(host), insecureRegistries: opts.insecureRegistries ?? [] });
  let staging: string | undefined;
  try {
    opts.onStatus?.(`${tag ?? ref.digest}: Pulling from ${repository}`);
    // ---- the manifest (through an index if the registry serves one) ----
    const wanted = ref.digest ?? (tag as string);
    const top = await fetchManifest(client, repository, wanted, ref.digest);
    let manifestBytes = top.bytes;
    let manifestType = top.mediaType;
    let json = top.json;
    const resolvedDigest = top.digest;
    if (isIndex(manifestType, json)) {
      const list = (json.manifests ?? []) as ManifestDescriptor[];
      const pick = pickPlatform(list, platform);
      if (!pick) {
        const have = list.map((m) => (m.platform ? formatPlatform(m.platform) : "?")).join(", ");
        throw new Error(`no image for ${formatPlatform(platform)} in the index (it has: ${have || "nothing"})`);
      }
      const m = await fetchManifest(client, repository, pick.digest, pick.digest);
      manifestBytes = m.bytes;
      manifestType = m.mediaType || pick.mediaType;
      json = m.json;
    }
    if (json.schemaVersion === 1) throw new Error("Docker schema 1 manifests are not supported (the registry should serve schema 2)");
    if (!isImageManifest(manifestType, json)) throw new Error(`unsupported manifest type ${JSON.stringify(manifestType)}`);
    const manifest = json as unknown as OciManifest;
    const manifestDigest = sha256(manifestBytes);
    if (!manifestType) manifestType = (json.mediaType as string | undefined) ?? "application/vnd.oci.image.manifest.v1+json";

    // ---- the config ----
    const configBytes = await fetchSmallBlob(client, repository, manifest.config);
    const config = JSON.parse(configBytes.toString("utf8")) as OciImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`);
    }

    await store.ensureLayout();
    await store.cleanStale();
    staging = await store.staging("pull");
    const stagingDir = staging;

    // ---- the layers, in parallel, each verified as it streams ----
    const staged = await inParallel(manifest.layers, opts.concurrency ?? 4, async (desc, i) => {
      const diffId = diffIds[i] as string;
      const id = shortHex(desc.digest);
      if ((await exists(store.layerDir(diffId))) && (await exists(store.blobPath(desc.digest)))) {
        opts.onProgress?.({ id, status: "Already exists" });
        return undefined;
      }
      return fetchLayer(client, repository, desc, diffId, stagingDir, i, opts);
    });

    // ---- commit: everything verified, now make it visible at once ----
    let updated = true;
    const image = await withLock(store.lockPath, "exclusive", async () => {
      for (const [i, s] of staged.entries()) {
        if (!s) continue;
        const desc = manifest.layers[i] as Descriptor;
        await store.placeBlob(desc.digest, s.blob);
        await store.placeLayer(diffIds[i] as string, s.dir, { diff_id: diffIds[i] as string, size: s.size });
      }
      await store.writeBlob(manifest.config.digest, configBytes);
      await store.writeBlob(manifestDigest, manifestBytes);
      const index = await store.readIndex();
      const desc: Descriptor = { mediaType: manifestType, digest: manifestDigest, size: manifestBytes.length };
      if (name !== undefined) {
        updated = !index.manifests.some((d) => d.digest === manifestDigest && d.annotations?.["org.opencontainers.image.ref.name"] === name);
        store.tag(index, name, desc, resolvedDigest);
      } else if (!index.manifests.some((d) => d.digest === manifestDigest)) {
        index.manifests.push({ ...desc, platform: { architecture: config.architecture, os: config.os } });
      } else {
        updated = false;
      }
      await store.writeIndex(index);
      const e = (await store.entries(index)).find((x) => x.digest === manifestDigest);
      if (e === undefined) throw new Error(`internal: manifest ${manifestDigest} not in the index just written`);
      return store.imageOf(e);
    });
    return { image, name, digest: resolvedDigest, updated, canonical };
  } catch (e) {
    throw new Error(`pull ${reference}`, { cause: fsError(e) });
  } finally {
    if (staging !== undefined) await rm(staging, { recursive: true, force: true });
    await client.close();
  }
}

interface Fetched {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  json: Record<string, unknown>;
}

/** A manifest, its digest checked against what was asked for (or the registry's header). */
async function fetchManifest(client: RegistryClient, repo: string, reference: string, expectDigest: string | undefined): Promise<Fetched> {
  const m = await client.getManifest(repo, reference);
  const digest = sha256(m.bytes);
  if (expectDigest !== undefined && digest !== expectDigest) {
    throw new RegistryError(`manifest ${repo}@${expectDigest}: digest mismatch: the registry sent content whose digest is ${digest}`);
  }
  if (expectDigest === undefined && m.headerDigest !== undefined && m.headerDigest.startsWith("sha256:") && m.headerDigest !== digest) {
    throw new RegistryError(`manifest ${repo}:${reference}: digest mismatch: Docker-Content-Digest says ${m.headerDigest}, the content is ${digest}`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(m.bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new RegistryError(`manifest ${repo}:${reference}: not valid JSON`);
  }
  const mediaType = m.mediaType && m.mediaType !== "application/json" ? m.mediaType : ((json.mediaType as string | undefined) ?? m.mediaType);
  return { bytes: m.bytes, mediaType, digest, json };
}

/** A config (or other small blob), read whole and verified. */
async function fetchSmallBlob(client: RegistryClient, repo: string, desc: Descriptor): Promise<Buffer> {
  if (desc.size > 64 << 20) throw new Error(`blob ${desc.digest}: ${desc.size} bytes is too large for a config`);
  const { body } = await client.getBlob(repo, desc.digest);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > desc.size) {
      body.destroy();
      throw new DigestMismatchError(`blob ${desc.digest}: longer than the ${desc.size} bytes its descriptor says`);
    }
    chunks.push(c);
  }
  const data = Buffer.concat(chunks);
  if (data.length !== desc.size) throw new Error(`blob ${desc.digest}: got ${data.length} of ${desc.size} bytes`);
  const got = sha256(data);
  if (got !== desc.digest) throw new DigestMismatchError(`blob ${desc.digest}: digest mismatch: the content is ${got}`);
  return data;
}

interface StagedLayer {
  dir: string;
  blob: string;
  size: number;
}

/**
 * Download and unpack one layer into staging. A connection that breaks, or a body that ends
 * short, is retried from scratch (the partial directory removed first); a wrong digest or a bad
 * tar is not, since fetching it again would give the same bytes.
 */
async function fetchLayer(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  diffId: string,
  staging: string,
  i: number,
  opts: PullOptions,
): Promise<StagedLayer> {
  const id = shortHex(desc.digest);
  const progress = opts.onProgress;
  progress?.({ id, status: "Waiting" });
  for (let attempt = 1; ; attempt++) {
    const dir = join(staging, `layer-${i}-${attempt}`);
    const blob = join(staging, `blob-${i}-${attempt}`);
    let transient = false;
    let got = 0;
    try {
      let body;
      try {
        ({ body } = await client.getBlob(repo, desc.digest));
      } catch (e) {
        transient = e instanceof RegistryError && (e.status === undefined || e.status >= 500);
        throw e;
      }
      let ended = false;
      body.on("error", () => (transient = true));
      body.on("end", () => (ended = true));
      let last = 0;
      progress?.({ id, status: "Downloading", current: 0, total: desc.size });
      const u = await unpackLayer(body, dir, blob, {
        zstd: true,
        sync: false,
        maxBytes: desc.size,
        onBytes: (n) => {
          got = n;
          // A few updates a second are plenty; every chunk would flood a pipe.
          if (n - last >= 512 * 1024 || n === desc.size) {
            last = n;
            progress?.({ id, status: "Downloading", current: n, total: desc.size });
          }
        },
      }).catch((e: unknown) => {
        if (ended && got < desc.size) transient = true;
        throw e;
      });
      if (u.blob.size !== desc.size) {
        transient = u.blob.size < desc.size;
        throw new Error(`blob ${desc.digest}: got ${u.blob.size} of ${desc.size} bytes`);
      }
      if (u.blob.digest !== desc.digest) throw new DigestMismatchError(`blob ${desc.digest}: digest mismatch: the content is ${u.blob.digest}`);
      if (u.diffId !== diffId) throw new DigestMismatchError(`layer ${desc.digest}: its tar's digest ${u.diffId} is not the config's diff_id ${diffId}`);
      progress?.({ id, status: "Pull complete" });
      return { dir, blob, size: u.size };
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      await rm(blob, { force: true });
      if (!transient || errCode(e) === "ENOSPC") throw new Error(`layer ${id}`, { cause: e });
      if (attempt >= RETRIES) {
        throw new Error(`layer ${id}: the registry closed the connection after ${got} of ${desc.size} bytes, ${RETRIES} times`, { cause: e });
      }
      progress?.({ id, status: "Retrying", detail: `attempt ${attempt + 1} of ${RETRIES}` });
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
