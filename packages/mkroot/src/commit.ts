/**
 * New images made from a parent image and new layers: what `box commit` (a container's upper dir
 * as one layer) and `box build` (one layer per RUN/COPY/ADD, history entries for the rest) share.
 *
 * Layers are kept as plain tars (`application/vnd.oci.image.layer.v1.tar`): the blob digest is
 * the diff_id, so the same content gives the same digest with no gzip in between, and a build
 * with SOURCE_DATE_EPOCH is reproducible byte for byte.
 */
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { applyChanges, canonicalConfig, goArch, type HistoryEntry, type ImageConfig, type OciImageConfig } from "./config.js";
import { fsError } from "./errors.js";
import { MEDIA_TYPE_LAYER, unpackLayer, type Descriptor } from "./layer.js";
import { withLock } from "./lock.js";
import { normalizeTaggedName } from "./reference.js";
import { removeShifted } from "./shift.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST, type Entry, type Image, type OciManifest, type Store } from "./store.js";
import { createHash } from "node:crypto";

interface Described {
  createdBy: string;
  comment?: string;
  /** The history entry's time; default the image's. */
  created?: string;
}

/** One step of the new image, in order: a new layer tar, a layer already stored, or history only. */
export type CommitLayer =
  | (Described & { tar: string | NodeJS.ReadableStream | Readable })
  | (Described & { diffId: string })
  | (Described & { emptyLayer: true });

export interface CommitOptions {
  /** The image to build on (any reference `get` takes); null or absent for scratch. */
  parent?: string | null;
  layers: CommitLayer[];
  /** The new image's runtime config; default the parent's. */
  config?: ImageConfig;
  /** `--change` instructions applied on top of `config`. */
  changes?: string[];
  /** Names to give it; without any the image is dangling (`<none>`), as an untagged build. */
  tags?: string[];
  /** The image's `created`, ISO 8601 (default now; a build passes SOURCE_DATE_EPOCH's). */
  created?: string;
  author?: string;
  onWarning?: (message: string) => void;
}

/** A layer placed in the store by addLayer. */
export interface StoredLayer {
  diffId: string;
  blob: Descriptor;
  /** Bytes of file content. */
  size: number;
  /** The unpacked directory: an overlay lower dir. */
  dir: string;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function inputOf(tar: string | NodeJS.ReadableStream | Readable): NodeJS.ReadableStream | Readable {
  return typeof tar === "string" ? createReadStream(tar) : tar;
}

/**
 * Unpack a layer tar into the store (blob and directory) without making an image of it: a
 * build's steps need each layer as an overlay lower dir before the image exists. Idempotent:
 * the same tar again finds its layer in place.
 */
export async function addLayer(store: Store, tar: string | NodeJS.ReadableStream | Readable, onWarning?: (m: string) => void): Promise<StoredLayer> {
  try {
    await store.ensureLayout();
    await store.cleanStale();
    const staging = await store.staging("layer");
    try {
      const layerPath = join(staging, "layer");
      const blobPath = join(staging, "blob");
      const u = await unpackLayer(inputOf(tar), layerPath, blobPath);
      for (const w of u.warnings) onWarning?.(w);
      await withLock(store.lockPath, "exclusive", async () => {
        await store.placeBlob(u.blob.digest, blobPath);
        await store.placeLayer(u.diffId, layerPath, { diff_id: u.diffId, size: u.size, blob: u.blob });
      });
      return { diffId: u.diffId, blob: u.blob, size: u.size, dir: store.layerDir(u.diffId) };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } catch (e) {
    throw new Error("add layer", { cause: fsError(e) });
  }
}

/**
 * The blob descriptor of a stored layer: from its metadata (addLayer's), else the plain tar
 * blob of that diff_id, else the blob some stored image's manifest gives it (a pulled layer).
 */
async function descriptorOf(store: Store, diffId: string, entries: Entry[]): Promise<Descriptor> {
  const meta = await store.layerMeta(diffId);
  if (meta?.blob !== undefined) return meta.blob;
  const st = await stat(store.blobPath(diffId)).catch(() => undefined);
  if (st?.isFile()) return { mediaType: MEDIA_TYPE_LAYER, digest: diffId, size: st.size };
  for (const e of entries) {
    const i = e.config.rootfs.diff_ids.indexOf(diffId);
    const d = i >= 0 ? e.manifest.layers[i] : undefined;
    if (d !== undefined) return { mediaType: d.mediaType, digest: d.digest, size: d.size };
  }
  throw new Error(`layer ${diffId} is not in the store`);
}

/** Make the image (see CommitOptions); returns it as `get` would. */
export async function commit(store: Store, opts: CommitOptions): Promise<Image> {
  // Validate, then act: names and changes are checked before any layer is read.
  const tags = (opts.tags ?? []).map((t) => normalizeTaggedName(t));
  applyChanges({}, opts.changes ?? []);
  const created = opts.created ?? new Date().toISOString();

  let parent: Entry | undefined;
  if (opts.parent !== undefined && opts.parent !== null) {
    const ref = opts.parent;
    parent = await store.read(async (index, entries) => store.resolve(ref, index, entries));
  }
  try {
    await store.ensureLayout();
    const diffIds = [...(parent?.config.rootfs.diff_ids ?? [])];
    const descs: Descriptor[] = (parent?.manifest.layers ?? []).map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size }));
    const history: HistoryEntry[] = [...(parent?.config.history ?? [])];
    const pending: Array<{ index: number; diffId: string }> = [];
    for (const l of opts.layers) {
      const h: HistoryEntry = { created: l.created ?? created, created_by: l.createdBy };
      if (opts.author !== undefined) h.author = opts.author;
      if (l.comment !== undefined && l.comment !== "") h.comment = l.comment;
      if ("emptyLayer" in l) {
        h.empty_layer = true;
      } else if ("tar" in l) {
        const s = await addLayer(store, l.tar, opts.onWarning);
        diffIds.push(s.diffId);
        descs.push(s.blob);
      } else {
        diffIds.push(l.diffId);
        pending.push({ index: descs.length, diffId: l.diffId });
        descs.push({ mediaType: MEDIA_TYPE_LAYER, digest: l.diffId, size: 0 });
      }
      history.push(h);
    }
    const runtime = applyChanges(opts.config ?? parent?.config.config ?? {}, opts.changes ?? []);
    const imageConfig: OciImageConfig = {
      created,
      architecture: parent?.config.architecture ?? goArch(),
      os: parent?.config.os ?? "linux",
      config: canonicalConfig(runtime),
      rootfs: { type: "layers", diff_ids: diffIds },
      history,
    };
    if (opts.author !== undefined) (imageConfig as OciImageConfig & { author?: string }).author = opts.author;

    return await withLock(store.lockPath, "exclusive", async () => {
      const index = await store.readIndex();
      const entries = await store.entries(index);
      for (const p of pending) descs[p.index] = await descriptorOf(store, p.diffId, entries);
      // Every layer must be in place: a commit never names content the store does not hold.
      for (const d of diffIds) {
        const ok = await stat(store.layerDir(d)).then((s) => s.isDirectory(), () => false);
        if (!ok) throw new Error(`layer ${d} is not in the store`);
      }
      const configBytes = Buffer.from(JSON.stringify(imageConfig));
      const configDesc: Descriptor = { mediaType: MEDIA_TYPE_CONFIG, digest: sha256(configBytes), size: configBytes.length };
      const manifest: OciManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_MANIFEST, config: configDesc, layers: descs };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const manifestDigest = sha256(manifestBytes);
      await store.writeBlob(configDesc.digest, configBytes);
      await store.writeBlob(manifestDigest, manifestBytes);
      const desc: Descriptor = { mediaType: MEDIA_TYPE_MANIFEST, digest: manifestDigest, size: manifestBytes.length };
      if (tags.length === 0) {
        if (!index.manifests.some((d) => d.digest === manifestDigest)) index.manifests.push({ ...desc, platform: { architecture: imageConfig.architecture, os: imageConfig.os } });
      }
      for (const t of tags) store.tag(index, t, desc);
      await store.writeIndex(index);
      const e = (await store.entries(index)).find((x) => x.digest === manifestDigest);
      if (e === undefined) throw new Error(`internal: manifest ${manifestDigest} not in the index just written`);
      return store.imageOf(e);
    });
  } catch (e) {
    throw new Error("commit", { cause: fsError(e) });
  }
}

/**
 * Remove layers (directory, metadata and blob) that no image uses: what a build left as cache
 * once `box builder prune` forgets it. Returns the bytes of file content removed.
 */
export async function pruneLayers(store: Store): Promise<{ removed: string[]; reclaimed: number }> {
  const { readdir, rename, unlink } = await import("node:fs/promises");
  const { randomBytes } = await import("node:crypto");
  const doomed: string[] = [];
  const removed: string[] = [];
  let reclaimed = 0;
  await store.ensureLayout();
  await withLock(store.lockPath, "exclusive", async () => {
    const entries = await store.entries(await store.readIndex());
    const layersInUse = new Set(entries.flatMap((e) => e.config.rootfs.diff_ids));
    const blobsInUse = new Set(entries.flatMap((e) => [e.digest, e.manifest.config.digest, ...e.manifest.layers.map((l) => l.digest)]));
    for (const name of await readdir(store.layersDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const diffId = `sha256:${name}`;
      if (layersInUse.has(diffId)) continue;
      const meta = await store.layerMeta(diffId);
      reclaimed += meta?.size ?? 0;
      const away = join(store.tmpDir, `${process.pid}-prune-${name.slice(0, 12)}-${randomBytes(4).toString("hex")}`);
      await rename(store.layerDir(diffId), away);
      doomed.push(away);
      await unlink(`${store.layerDir(diffId)}.json`).catch(() => {});
      const blob = meta?.blob?.digest ?? diffId;
      if (!blobsInUse.has(blob)) await unlink(store.blobPath(blob)).catch(() => {});
      removed.push(diffId);
    }
  });
  for (const d of doomed) await rm(d, { recursive: true, force: true });
  for (const d of removed) removeShifted(store.root, d.slice("sha256:".length));
  return { removed, reclaimed };
}
