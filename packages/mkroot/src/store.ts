/**
 * The local image store, laid out close to the OCI image layout so pull, push and build can
 * extend it:
 *
 *   $BOX_ROOT/images/oci-layout, index.json, blobs/sha256/<hex>   manifests, configs, layer tars
 *   $BOX_ROOT/images/index.json.lock                               flock(2) for index updates
 *   $BOX_ROOT/layers/<diffid-hex>/                                 one unpacked layer: an overlay lower dir
 *   $BOX_ROOT/layers/<diffid-hex>.json                             its metadata, beside it, never inside
 *   $BOX_ROOT/layers-shifted/<uid>.<gid>.<hash>/<diffid-hex>/      its copy for a remapped root (shift.ts)
 *   $BOX_ROOT/tmp/<pid>-<random>/                                  staging, renamed into place when complete
 *
 * Everything is written under tmp/ and renamed into place, so a crash or a failed import leaves
 * no partial blob, layer or image visible. index.json changes, and anything that makes a blob or
 * layer appear or disappear, happen under an exclusive lock; readers take a shared one.
 */
import { randomBytes, createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { applyChanges, buildImageConfig, contentKey, goArch, type OciImageConfig } from "./config.js";
import { AmbiguousImageError, errCode, fsError, ImageConflictError, NoSuchImageError } from "./errors.js";
import type { Descriptor } from "./layer.js";
import { withLock } from "./lock.js";
import { removeShifted } from "./shift.js";
import type { PullOptions, PullResult } from "./pull.js";
import type { PushOptions, PushResult } from "./push.js";
import type { CommitOptions, StoredLayer } from "./commit.js";
import {
  ID_PREFIX_RE,
  ID_RE,
  InvalidReferenceError,
  normalizeTaggedName,
  parseReference,
  splitTaggedName,
  DEFAULT_TAG,
  familiarName,
} from "./reference.js";

export const MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json";
export const MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json";
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
export const DEFAULT_ROOT = "/var/lib/box";
/** The digest a name's registry knows its image by (the index's, for a multi-platform pull). */
export const REPO_DIGEST_ANNOTATION = "io.github.box.repo.digest";

export interface Image {
  /** `sha256:<hex>` of the config blob, as Docker's image ID. */
  id: string;
  /** `NAME:TAG` references to this image, in index order. */
  names: string[];
  /** `REPO@sha256:...` for names that came from, or went to, a registry (Docker's RepoDigests). */
  repoDigests: string[];
  /** `sha256:<hex>` of the manifest: what `NAME@sha256:...` names. */
  digest: string;
  config: OciImageConfig;
  /** Absolute unpacked layer directories, top first (the order overlay's lowerdir wants). */
  layers: string[];
}

export interface ImageSummary {
  id: string;
  names: string[];
  /** `REPO@sha256:...`, as `docker images --digests` shows. */
  repoDigests: string[];
  /** The stored manifest's digest. */
  digest: string;
  created: string;
  /** Bytes of file content over all layers. */
  size: number;
}

export interface ImportOptions {
  /** `docker import --change` instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR. */
  changes?: string[];
  /** Kept as the history entry's comment. */
  message?: string;
  /** Told about things skipped on the way (xattrs the filesystem would not take). */
  onWarning?: (message: string) => void;
}

export interface RemoveOptions {
  /** Remove an image named by ID even if it still has several names. */
  force?: boolean;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

export interface OciManifest {
  schemaVersion: 2;
  /** Docker schema 2 always has it; OCI may leave it out. */
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface LayerMeta {
  diff_id: string;
  size: number;
  /** The layer's blob, when the layer was added on its own (commit, build). */
  blob?: Descriptor;
}

/** One image as the index sees it: its manifest and config, and every name pointing at it. */
export interface Entry {
  digest: string;
  manifest: OciManifest;
  id: string;
  config: OciImageConfig;
  names: string[];
  /** `REPO@sha256:...` for names that came from, or went to, a registry (Docker's RepoDigests). */
  repoDigests: string[];
}

function hex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new Error(`unsupported digest ${JSON.stringify(digest)}: only sha256 is kept in this store`);
  return m[1] as string;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: [] };
}

/** Whether a pid still runs: tmp/ entries of dead processes are leftovers of a crash. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === "EPERM";
  }
}

export class Store {
  readonly root: string;
  readonly imagesDir: string;
  readonly blobsDir: string;
  readonly layersDir: string;
  readonly tmpDir: string;
  /** @internal */
  readonly indexPath: string;
  /** @internal */
  readonly lockPath: string;

  constructor(root: string = process.env.BOX_ROOT || DEFAULT_ROOT) {
    this.root = resolve(root);
    this.imagesDir = join(this.root, "images");
    this.blobsDir = join(this.imagesDir, "blobs", "sha256");
    this.layersDir = join(this.root, "layers");
    this.tmpDir = join(this.root, "tmp");
    this.indexPath = join(this.imagesDir, "index.json");
    this.lockPath = join(this.imagesDir, "index.json.lock");
  }

  /** The unpacked directory of a layer, by diff_id. */
  layerDir(diffId: string): string {
    return join(this.layersDir, hex(diffId));
  }

  blobPath(digest: string): string {
    return join(this.blobsDir, hex(digest));
  }

  /**
   * Import a (plain or gzip) tar as a one-layer image named `name`, returning it. Name and
   * changes are checked before anything is read or written. Importing content identical to an
   * image already stored (same layer, config and history, apart from timestamps) gives that
   * image the name instead of making a twin, so repeated or concurrent imports of one tar end
   * in one image.
   */
  async importTar(name: string, input: NodeJS.ReadableStream | Readable, opts: ImportOptions = {}): Promise<Image> {
    const ref = normalizeTaggedName(name);
    const config = applyChanges({}, opts.changes ?? []);

    try {
      await this.ensureLayout();
      await this.cleanStale();
      const staging = await this.staging("import");
      try {
        const layerPath = join(staging, "layer");
        const blobPath = join(staging, "blob");
        // The extractor (zlib, streams, tar-stream) loads only when a layer is unpacked, not for box run's lookups.
        const { unpackLayer } = await import("./layer.js");
        const layer = await unpackLayer(input, layerPath, blobPath);
        for (const w of layer.warnings) opts.onWarning?.(w);

        const created = new Date().toISOString();
        const imageConfig = buildImageConfig({
          diffIds: [layer.diffId],
          config,
          created,
          createdBy: "mkroot import",
          ...(opts.message !== undefined ? { comment: opts.message } : {}),
        });
        const configBytes = Buffer.from(JSON.stringify(imageConfig));
        const configDesc: Descriptor = { mediaType: MEDIA_TYPE_CONFIG, digest: sha256(configBytes), size: configBytes.length };
        const manifest: OciManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_MANIFEST, config: configDesc, layers: [layer.blob] };
        const manifestBytes = Buffer.from(JSON.stringify(manifest));
        const manifestDigest = sha256(manifestBytes);

        return await withLock(this.lockPath, "exclusive", async () => {
          const index = await this.readIndex();
          const entries = await this.entries(index);
          const key = contentKey(imageConfig);
          const twin = entries.find((e) => e.manifest.layers.length === 1 && e.manifest.layers[0]?.digest === layer.blob.digest && contentKey(e.config) === key);
          if (twin === undefined) {
            await this.placeBlob(layer.blob.digest, blobPath);
            await this.placeLayer(layer.diffId, layerPath, { diff_id: layer.diffId, size: layer.size });
            await this.writeBlob(configDesc.digest, configBytes);
            await this.writeBlob(manifestDigest, manifestBytes);
          }
          const target = twin?.digest ?? manifestDigest;
          const targetSize = twin ? (index.manifests.find((d) => d.digest === twin.digest)?.size ?? manifestBytes.length) : manifestBytes.length;
          this.tag(index, ref, { mediaType: MEDIA_TYPE_MANIFEST, digest: target, size: targetSize });
          await this.writeIndex(index);
          const e = (await this.entries(index)).find((x) => x.digest === target);
          if (e === undefined) throw new Error(`internal: manifest ${target} not in the index just written`);
          return this.imageOf(e);
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    } catch (e) {
      throw new Error(`import ${ref}`, { cause: fsError(e) });
    }
  }

  /** The image `ref` names: NAME[:TAG], NAME@sha256:..., an image ID, or a unique ID prefix. */
  async get(ref: string): Promise<Image> {
    return this.read(async (index, entries) => this.imageOf(this.resolve(ref, index, entries)));
  }

  /** Lower dirs of `ref`, top first, for ovl-mount. */
  async layers(ref: string): Promise<string[]> {
    return (await this.get(ref)).layers;
  }

  /** Every image, newest first. */
  async list(): Promise<ImageSummary[]> {
    return this.read(async (_index, entries) => {
      const out: ImageSummary[] = [];
      for (const e of entries) {
        let size = 0;
        for (const d of e.config.rootfs.diff_ids) size += (await this.layerMeta(d))?.size ?? 0;
        out.push({ id: e.id, names: e.names, repoDigests: e.repoDigests, digest: e.digest, created: e.config.created ?? "", size });
      }
      return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
    });
  }

  /**
   * Remove `ref`. By name, the name is untagged and the image goes when it was the last one; by
   * ID or digest, the image goes with all its names (several names need `force`, as `docker rmi`).
   * Blobs and layers no other image uses are deleted. Returns Docker's "Untagged: x" and
   * "Deleted: sha256:..." lines.
   */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<string[]> {
    // Nothing to remove from a store that was never made; say so without making one.
    if (!(await exists(this.indexPath))) this.resolveHow(ref, emptyIndex(), []);
    await this.ensureLayout();
    const out: string[] = [];
    const doomed: string[] = [];
    const goneLayers: string[] = [];
    await withLock(this.lockPath, "exclusive", async () => {
      const index = await this.readIndex();
      const entries = await this.entries(index);
      const hit = this.resolveHow(ref, index, entries);
      const e = hit.entry;
      let untag: string[];
      if (hit.byName !== undefined) {
        untag = [hit.byName];
      } else {
        if (e.names.length > 1 && !opts.force) throw new ImageConflictError(e.id, e.names);
        untag = [...e.names];
      }
      index.manifests = index.manifests.filter((d) => !(d.digest === e.digest && untag.includes(d.annotations?.[REF_NAME_ANNOTATION] ?? "")));
      for (const n of untag) out.push(`Untagged: ${n}`);
      const stillNamed = index.manifests.some((d) => d.digest === e.digest && d.annotations?.[REF_NAME_ANNOTATION] !== undefined);
      if (!stillNamed) {
        // Drop any dangling descriptor of it too, then everything only it used.
        index.manifests = index.manifests.filter((d) => d.digest !== e.digest);
        await this.writeIndex(index);
        out.push(`Deleted: ${e.id}`);
        const rest = entries.filter((x) => x.digest !== e.digest);
        const blobsInUse = new Set(rest.flatMap((x) => [x.digest, x.manifest.config.digest, ...x.manifest.layers.map((l) => l.digest)]));
        const layersInUse = new Set(rest.flatMap((x) => x.config.rootfs.diff_ids));
        for (const b of [e.digest, e.manifest.config.digest, ...e.manifest.layers.map((l) => l.digest)]) {
          if (!blobsInUse.has(b)) await unlink(this.blobPath(b)).catch((err: unknown) => ignoreMissing(err));
        }
        for (const d of [...e.config.rootfs.diff_ids].reverse()) {
          if (layersInUse.has(d)) continue;
          // Rename out of sight under the lock; the slow recursive delete happens after it.
          const away = join(this.tmpDir, `${process.pid}-rm-${hex(d).slice(0, 12)}-${randomBytes(4).toString("hex")}`);
          const gone = await rename(this.layerDir(d), away).then(
            () => true,
            (err: unknown) => ignoreMissing(err, false),
          );
          if (gone) doomed.push(away);
          goneLayers.push(hex(d));
          await unlink(`${this.layerDir(d)}.json`).catch((err: unknown) => ignoreMissing(err));
          out.push(`Deleted: ${d}`);
        }
      } else {
        await this.writeIndex(index);
      }
    }).catch((e: unknown) => {
      if (e instanceof NoSuchImageError || e instanceof ImageConflictError || e instanceof AmbiguousImageError) throw e;
      throw new Error(`rm ${ref}`, { cause: fsError(e) });
    });
    for (const d of doomed) await rm(d, { recursive: true, force: true });
    for (const h of goneLayers) removeShifted(this.root, h);
    return out;
  }

  /**
   * Pull `ref` from its registry (see pull.ts). The registry client is loaded only here, so
   * commands that never pull do not pay for it at start-up.
   */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    const { pull } = await import("./pull.js");
    return pull(this, ref, opts);
  }

  /**
   * Make an image from a parent (or scratch), new layer tars, layers already stored and
   * history-only steps (see commit.ts): what `box commit` and `box build` share.
   */
  async commit(opts: CommitOptions): Promise<Image> {
    const { commit } = await import("./commit.js");
    return commit(this, opts);
  }

  /** Put one layer tar in the store without an image (see commit.ts): a build's step. */
  async addLayer(tar: string | NodeJS.ReadableStream | Readable, onWarning?: (m: string) => void): Promise<StoredLayer> {
    const { addLayer } = await import("./commit.js");
    return addLayer(this, tar, onWarning);
  }

  /** Remove layers no image uses (a build's cache; see commit.ts). */
  async pruneLayers(): Promise<{ removed: string[]; reclaimed: number }> {
    const { pruneLayers } = await import("./commit.js");
    return pruneLayers(this);
  }

  /** Push the stored image `ref` to its registry (see push.ts). */
  async push(ref: string, opts: PushOptions = {}): Promise<PushResult> {
    const { push } = await import("./push.js");
    return push(this, ref, opts);
  }

  /** Write images to `out` as one tar, both OCI layout and docker-archive (see archive.ts). */
  async save(refs: string[], out: NodeJS.WritableStream): Promise<void> {
    const { save } = await import("./archive.js");
    return save(this, refs, out as import("node:stream").Writable);
  }

  /** Load a docker-archive or OCI layout tar (see archive.ts). */
  async load(input: NodeJS.ReadableStream | Readable): Promise<{ lines: string[]; images: Image[] }> {
    const { load } = await import("./archive.js");
    const { toReadable } = await import("./compression.js");
    return load(this, toReadable(input));
  }

  /** Give the image `source` names the further name `target` (`docker tag`). */
  async tagImage(source: string, target: string): Promise<Image> {
    const name = normalizeTaggedName(target);
    await this.ensureLayout();
    return withLock(this.lockPath, "exclusive", async () => {
      const index = await this.readIndex();
      const e = this.resolve(source, index, await this.entries(index));
      const size = index.manifests.find((d) => d.digest === e.digest)?.size ?? 0;
      const mediaType = e.manifest.mediaType ?? MEDIA_TYPE_MANIFEST;
      this.tag(index, name, { mediaType, digest: e.digest, size });
      await this.writeIndex(index);
      const after = (await this.entries(index)).find((x) => x.digest === e.digest);
      if (after === undefined) throw new Error(`internal: manifest ${e.digest} not in the index just written`);
      return this.imageOf(after);
    });
  }

  /**
   * Remove dangling images (no name), or with `all` every image whose ID is not in `keep`.
   * Returns Docker's "untagged:"/"deleted:" lines and the bytes of the layers deleted.
   */
  async prune(opts: { all?: boolean; keep?: Set<string> } = {}): Promise<{ lines: string[]; reclaimed: number }> {
    const images = await this.list();
    const lines: string[] = [];
    let reclaimed = 0;
    for (const img of images) {
      if (opts.keep?.has(img.id)) continue;
      if (img.names.length > 0 && !opts.all) continue;
      const m = await this.manifestOf(img.id).catch(() => undefined);
      const sizes = new Map((m?.config.rootfs.diff_ids ?? []).map((d, i) => [d, m?.sizes[i] ?? 0]));
      let out: string[];
      try {
        out = await this.remove(img.id, { force: true });
      } catch (e) {
        if (e instanceof NoSuchImageError) continue; // removed meanwhile
        throw e;
      }
      for (const l of out) {
        const [verb, what = ""] = l.split(": ");
        lines.push(`${verb?.toLowerCase()}: ${what}`);
        if (verb === "Deleted") reclaimed += sizes.get(what) ?? 0;
      }
    }
    return { lines, reclaimed };
  }

  /** Remember that `name`'s registry now knows its image as `digest` (after a push). */
  async recordRepoDigest(name: string, digest: string): Promise<void> {
    await withLock(this.lockPath, "exclusive", async () => {
      const index = await this.readIndex();
      const d = index.manifests.find((x) => x.annotations?.[REF_NAME_ANNOTATION] === name);
      if (d === undefined) return;
      d.annotations = { ...d.annotations, [REPO_DIGEST_ANNOTATION]: digest };
      await this.writeIndex(index);
    });
  }

  /** The manifest as stored (its bytes are what `NAME@DIGEST` names) and its descriptor's media type. */
  async manifestOf(ref: string): Promise<{ digest: string; manifest: OciManifest; config: OciImageConfig; names: string[]; sizes: number[] }> {
    return this.read(async (index, entries) => {
      const e = this.resolve(ref, index, entries);
      const sizes: number[] = [];
      for (const d of e.config.rootfs.diff_ids) sizes.push((await this.layerMeta(d))?.size ?? 0);
      return { digest: e.digest, manifest: e.manifest, config: e.config, names: [...e.names], sizes };
    });
  }

  // ---- resolution ------------------------------------------------------------------------------

  /** @internal (pull, push, archive) */
  resolve(ref: string, index: OciIndex, entries: Entry[]): Entry {
    return this.resolveHow(ref, index, entries).entry;
  }

  /**
   * As Docker's image lookup: a full `sha256:` ID first; then the reference as a name (tag or
   * digest); then, if it looks like one, an ID prefix. `byName` is set when a tag matched.
   */
  /** @internal (pull, push, archive) */
  resolveHow(ref: string, _index: OciIndex, entries: Entry[]): { entry: Entry; byName?: string } {
    const full = ID_RE.exec(ref);
    if (full && ref.startsWith("sha256:")) {
      const e = entries.find((x) => x.id === `sha256:${full[1]}`);
      if (e) return { entry: e };
      throw new NoSuchImageError(ref);
    }
    let parsed;
    let parseError: unknown;
    try {
      parsed = parseReference(ref);
    } catch (err) {
      parseError = err;
    }
    if (parsed) {
      if (parsed.digest !== undefined) {
        const repo = familiarName(parsed.name);
        const e =
          entries.find((x) => x.digest === parsed.digest && x.names.some((n) => splitTaggedName(n).repository === repo)) ??
          entries.find((x) => x.repoDigests.includes(`${repo}@${parsed.digest}`));
        if (e) return { entry: e };
      } else {
        const name = `${familiarName(parsed.name)}:${parsed.tag ?? DEFAULT_TAG}`;
        const e = entries.find((x) => x.names.includes(name));
        if (e) return { entry: e, byName: name };
      }
    }
    const prefix = ID_PREFIX_RE.exec(ref);
    if (prefix) {
      const matches = entries.filter((x) => x.id.startsWith(`sha256:${prefix[1]}`));
      if (matches.length === 1) return { entry: matches[0] as Entry };
      if (matches.length > 1) throw new AmbiguousImageError(ref, matches.length);
    } else if (parseError instanceof InvalidReferenceError) {
      throw parseError;
    }
    throw new NoSuchImageError(ref);
  }

  // ---- reading ---------------------------------------------------------------------------------

  /** Run `fn` on a consistent view of the index, under a shared lock; an absent store is empty. */
  /** @internal (pull, push, archive) */
  async read<T>(fn: (index: OciIndex, entries: Entry[]) => Promise<T>): Promise<T> {
    const exists = await stat(this.imagesDir).then(
      () => true,
      (e: unknown) => ignoreMissing(e, false),
    );
    const go = async () => {
      const index = await this.readIndex();
      return fn(index, await this.entries(index));
    };
    if (!exists) return go();
    return withLock(this.lockPath, "shared", go);
  }

  /** @internal (pull, push, archive) */
  async readIndex(): Promise<OciIndex> {
    let text: string;
    try {
      text = await readFile(this.indexPath, "utf8");
    } catch (e) {
      if (errCode(e) === "ENOENT") return emptyIndex();
      throw fsError(e);
    }
    let index: OciIndex;
    try {
      index = JSON.parse(text) as OciIndex;
    } catch (e) {
      throw new Error(`${this.indexPath}: not valid JSON`, { cause: e });
    }
    if (!Array.isArray(index.manifests)) throw new Error(`${this.indexPath}: no "manifests" array`);
    return index;
  }

  /** @internal (pull, push, archive) */
  async readJson<T>(digest: string): Promise<T> {
    const path = this.blobPath(digest);
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (e) {
      throw fsError(e);
    }
    if (sha256(data) !== digest) throw new Error(`${path}: content does not match its digest (corrupt store?)`);
    return JSON.parse(data.toString("utf8")) as T;
  }

  /** The index's manifests, one entry per image, with their names gathered. */
  /** @internal (pull, push, archive) */
  async entries(index: OciIndex): Promise<Entry[]> {
    const byDigest = new Map<string, Entry>();
    for (const d of index.manifests) {
      let e = byDigest.get(d.digest);
      if (e === undefined) {
        const manifest = await this.readJson<OciManifest>(d.digest);
        const config = await this.readJson<OciImageConfig>(manifest.config.digest);
        e = { digest: d.digest, manifest, id: manifest.config.digest, config, names: [], repoDigests: [] };
        byDigest.set(d.digest, e);
      }
      const name = d.annotations?.[REF_NAME_ANNOTATION];
      if (name !== undefined && !e.names.includes(name)) e.names.push(name);
      const repoDigest = d.annotations?.[REPO_DIGEST_ANNOTATION];
      if (name !== undefined && repoDigest !== undefined) {
        const rd = `${splitTaggedName(name).repository}@${repoDigest}`;
        if (!e.repoDigests.includes(rd)) e.repoDigests.push(rd);
      }
    }
    return [...byDigest.values()];
  }

  /** @internal (pull, push, archive) */
  async imageOf(e: Entry): Promise<Image> {
    const layers = [...e.config.rootfs.diff_ids].reverse().map((d) => this.layerDir(d));
    for (const l of layers) {
      const ok = await stat(l).then(
        (s) => s.isDirectory(),
        (err: unknown) => ignoreMissing(err, false),
      );
      if (!ok) throw new Error(`image ${e.id}: layer ${l} is missing (corrupt store?)`);
    }
    return { id: e.id, names: [...e.names], repoDigests: [...e.repoDigests], digest: e.digest, config: e.config, layers };
  }

  /** @internal (pull, push, archive) */
  async layerMeta(diffId: string): Promise<LayerMeta | undefined> {
    try {
      return JSON.parse(await readFile(`${this.layerDir(diffId)}.json`, "utf8")) as LayerMeta;
    } catch {
      return undefined;
    }
  }

  // ---- writing (callers hold the exclusive lock) -----------------------------------------------

  /** Point `ref` at `desc`: the old image keeps its other names, or stays as a dangling image. */
  /** @internal (pull, push, archive) */
  tag(index: OciIndex, ref: string, desc: Descriptor, repoDigest?: string): void {
    const old = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    index.manifests = index.manifests.filter((d) => d !== old && !(d.digest === desc.digest && d.annotations?.[REF_NAME_ANNOTATION] === undefined));
    if (old !== undefined && old.digest !== desc.digest && !index.manifests.some((d) => d.digest === old.digest)) {
      const { annotations: _a, ...bare } = old;
      index.manifests.push(bare);
    }
    // A name keeps the registry digest it had while it points at the same manifest.
    const keep = repoDigest ?? (old?.digest === desc.digest ? old.annotations?.[REPO_DIGEST_ANNOTATION] : undefined);
    const annotations: Record<string, string> = { [REF_NAME_ANNOTATION]: ref };
    if (keep !== undefined) annotations[REPO_DIGEST_ANNOTATION] = keep;
    index.manifests.push({ ...desc, platform: { architecture: goArch(), os: "linux" }, annotations });
  }

  /** @internal (pull, push, archive) */
  async writeIndex(index: OciIndex): Promise<void> {
    await this.atomicWrite(this.indexPath, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
  }

  /** Write to tmp/, fsync, rename over `path`: readers see the old file or the new one. */
  /** @internal (pull, push, archive) */
  async atomicWrite(path: string, data: Buffer): Promise<void> {
    const tmp = join(this.tmpDir, `${process.pid}-w-${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** @internal (pull, push, archive) */
  async writeBlob(digest: string, data: Buffer): Promise<void> {
    if (await exists(this.blobPath(digest))) return;
    await this.atomicWrite(this.blobPath(digest), data);
  }

  /** Move a staged layer blob into place, or leave it if an identical one is already there. */
  /** @internal (pull, push, archive) */
  async placeBlob(digest: string, staged: string): Promise<void> {
    if (await exists(this.blobPath(digest))) return;
    await rename(staged, this.blobPath(digest));
  }

  /**
   * Move a staged layer directory into place. If another import got there first, its copy is
   * the same content (same diff_id) and ours is simply discarded with the staging dir.
   */
  /** @internal (pull, push, archive) */
  async placeLayer(diffId: string, staged: string, meta: LayerMeta): Promise<void> {
    const dir = this.layerDir(diffId);
    if (await exists(dir)) return;
    // Metadata first: a layer dir is never visible without it (a crash between leaves an unused .json).
    await this.atomicWrite(`${dir}.json`, Buffer.from(`${JSON.stringify(meta)}\n`));
    try {
      await rename(staged, dir);
    } catch (e) {
      // rename(2) onto a non-empty directory fails: someone placed it between our check and here.
      if (errCode(e) !== "ENOTEMPTY" && errCode(e) !== "EEXIST") throw e;
    }
  }

  /** Create the layout if missing. 0700 where layers live: they hold the image's setuid files. */
  /** @internal (pull, push, archive) */
  async ensureLayout(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true, mode: 0o711 });
      await mkdir(this.blobsDir, { recursive: true, mode: 0o700 });
      await mkdir(this.layersDir, { recursive: true, mode: 0o700 });
      await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
      if (!(await exists(join(this.imagesDir, "oci-layout"))) || !(await exists(this.indexPath))) {
        await withLock(this.lockPath, "exclusive", async () => {
          if (!(await exists(join(this.imagesDir, "oci-layout")))) {
            await this.atomicWrite(join(this.imagesDir, "oci-layout"), Buffer.from(`${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`));
          }
          if (!(await exists(this.indexPath))) await this.writeIndex(emptyIndex());
        });
      }
    } catch (e) {
      throw new Error(`prepare store ${this.root}`, { cause: fsError(e) });
    }
  }

  /** Remove tmp/ entries whose process is gone (a crash mid-import). Best effort. */
  /** @internal (pull, push, archive) */
  async cleanStale(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch {
      return;
    }
    for (const n of names) {
      const pid = Number(/^(\d+)-/.exec(n)?.[1]);
      if (!pid || pid === process.pid || alive(pid)) continue;
      await rm(join(this.tmpDir, n), { recursive: true, force: true }).catch(() => {});
    }
  }

  /** @internal (pull, push, archive) */
  async staging(what: string): Promise<string> {
    const dir = join(this.tmpDir, `${process.pid}-${what}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, 0o700);
    return dir;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    return ignoreMissing(e, false);
  }
}

/** Swallow ENOENT (returning `value`), rethrow the rest in house style. */
function ignoreMissing<T>(e: unknown, value?: T): T {
  if (errCode(e) === "ENOENT") return value as T;
  throw fsError(e);
}
