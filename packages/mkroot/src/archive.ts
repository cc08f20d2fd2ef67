/**
 * `save` and `load`: images as one tar that is both an OCI image layout (oci-layout,
 * index.json, blobs/sha256/...) and a docker-archive (manifest.json, repositories), as Docker 25
 * writes it, so `docker load`, `podman load` and OCI tools all read it. Layers are written as
 * stored (gzip when they came gzip), config and manifests byte for byte, so IDs and digests
 * survive the round trip.
 *
 * Load takes either form (podman save's docker-archive with `<hex>.tar` layers included): the
 * tar is spooled into staging (regular files only, at safe relative paths), every blob's digest
 * is checked, every layer is unpacked by the same extractor as a pull and its diff_id checked
 * against the config, and only then is the image committed to the store.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract, pack } from "tar-stream";
import type { OciImageConfig } from "./config.js";
import { fsError } from "./errors.js";
import { entryPath } from "./extract.js";
import { unpackLayer, type Descriptor } from "./layer.js";
import { withLock } from "./lock.js";
import { inParallel, sha256 } from "./pull.js";
import { familiarName, normalizeTaggedName, registryOf, splitTaggedName } from "./reference.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, REF_NAME_ANNOTATION, type Image, type OciManifest, type Store } from "./store.js";

const CONTAINERD_NAME = "io.containerd.image.name";

/** Write the images `refs` name to `out` as one tar. */
export async function save(store: Store, refs: string[], out: Writable): Promise<void> {
  const wanted = await store.read(async (index, entries) =>
    refs.map((r) => {
      const e = store.resolve(r, index, entries);
      // Saved by name: that name only; by ID: all its names, as docker save does.
      let names: string[];
      try {
        const n = normalizeTaggedName(r);
        names = e.names.includes(n) ? [n] : e.names;
      } catch {
        names = e.names;
      }
      const size = index.manifests.find((d) => d.digest === e.digest)?.size ?? 0;
      return { e, names, size };
    }),
  );
  const p = pack();
  const done = pipeline(p, out);
  const written = new Set<string>();
  const addFile = async (name: string, path: string) => {
    if (written.has(name)) return;
    written.add(name);
    const size = (await stat(path)).size;
    await new Promise<void>((resolve, reject) => {
      const entry = p.entry({ name, size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
      createReadStream(path).on("error", reject).pipe(entry);
    });
  };
  const addBytes = async (name: string, data: Buffer) => {
    if (written.has(name)) return;
    written.add(name);
    await new Promise<void>((resolve, reject) => p.entry({ name, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve())));
  };
  const blobName = (d: string) => `blobs/sha256/${d.replace(/^sha256:/, "")}`;
  try {
    const indexManifests: Descriptor[] = [];
    const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { e, names, size } of wanted) {
      for (const l of e.manifest.layers) await addFile(blobName(l.digest), store.blobPath(l.digest));
      await addFile(blobName(e.manifest.config.digest), store.blobPath(e.manifest.config.digest));
      await addFile(blobName(e.digest), store.blobPath(e.digest));
      const mediaType = e.manifest.mediaType ?? MEDIA_TYPE_MANIFEST;
      if (names.length === 0) indexManifests.push({ mediaType, digest: e.digest, size });
      for (const n of names) {
        const { repository, tag } = splitTaggedName(n);
        const { host, repository: path } = registryOf(repository);
        indexManifests.push({ mediaType, digest: e.digest, size, annotations: { [CONTAINERD_NAME]: `${host}/${path}:${tag}`, [REF_NAME_ANNOTATION]: tag } });
        (repositories[repository] ??= {})[tag] = (e.config.rootfs.diff_ids[e.config.rootfs.diff_ids.length - 1] ?? "").replace(/^sha256:/, "");
      }
      dockerManifest.push({ Config: blobName(e.manifest.config.digest), RepoTags: names.length ? names : null, Layers: e.manifest.layers.map((l) => blobName(l.digest)) });
    }
    await addBytes("oci-layout", Buffer.from(`${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`));
    await addBytes("index.json", Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: indexManifests })}\n`));
    await addBytes("manifest.json", Buffer.from(`${JSON.stringify(dockerManifest)}\n`));
    if (Object.keys(repositories).length) await addBytes("repositories", Buffer.from(`${JSON.stringify(repositories)}\n`));
    p.finalize();
  } catch (e) {
    p.destroy(e as Error);
    await done.catch(() => {});
    throw e;
  }
  await done;
}

export interface LoadResult {
  /** "Loaded image: x:tag" or "Loaded image ID: sha256:..." lines, as docker load prints them. */
  lines: string[];
  images: Image[];
}

interface Candidate {
  names: string[];
  config: string; // path in staging
  layers: string[]; // paths in staging
  manifestBytes?: Buffer; // OCI layout: kept byte for byte
  mediaType?: string;
}

/** Spool the tar's regular files into `dir`, at checked relative paths. */
async function spool(input: Readable, dir: string): Promise<Set<string>> {
  const files = new Set<string>();
  const ex = extract();
  let feedError: unknown;
  const fed = pipeline(input, ex as unknown as NodeJS.WritableStream).catch((e: unknown) => {
    feedError = e;
  });
  for await (const entry of ex as unknown as AsyncIterable<Readable & { header: { name: string; type: string | null } }>) {
    const rel = entryPath(entry.header.name);
    if (entry.header.type !== "file" || rel === "") {
      entry.resume();
      continue;
    }
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, "wx", 0o600);
    try {
      await pipeline(entry, fh.createWriteStream());
    } finally {
      await fh.close().catch(() => {});
    }
    files.add(rel);
  }
  await fed;
  if (feedError !== undefined) {
    const msg = (feedError as Error).message;
    throw new Error(`not a tar archive${/end of data|header/i.test(msg) ? "" : `: ${msg}`}`);
  }
  return files;
}

function readJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString("utf8")) as T;
  } catch {
    throw new Error(`${what}: not valid JSON`);
  }
}

/** Load a docker-archive or OCI layout tar into the store. */
export async function load(store: Store, input: Readable): Promise<LoadResult> {
  await store.ensureLayout();
  await store.cleanStale();
  const staging = await store.staging("load");
  try {
    const files = join(staging, "files");
    await mkdir(files);
    const have = await spool(input, files);
    const candidates: Candidate[] = [];
    const blobFile = (d: string) => {
      const rel = `blobs/${d.replace(":", "/")}`;
      if (!have.has(rel)) throw new Error(`the archive lacks ${rel}`);
      return rel;
    };
    if (have.has("index.json")) {
      // OCI layout (also what box save and Docker 25+ write): follow nested indexes.
      const walk = async (idx: { manifests?: Descriptor[] }, inherited?: string) => {
        for (const d of idx.manifests ?? []) {
          const rel = blobFile(d.digest);
          const bytes = await readFile(join(files, rel));
          if (sha256(bytes) !== d.digest) throw new Error(`${rel}: content does not match its digest`);
          const j = readJson<{ manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[]; mediaType?: string }>(bytes, rel);
          const full = d.annotations?.[CONTAINERD_NAME];
          const ref = d.annotations?.[REF_NAME_ANNOTATION];
          let name = inherited;
          if (full) name = full;
          else if (ref && /[/:]/.test(ref)) name = ref;
          if (Array.isArray(j.manifests)) {
            await walk(j, name);
            continue;
          }
          if (!j.config || !Array.isArray(j.layers)) continue;
          if (d.platform && d.platform.os !== "linux") continue;
          candidates.push({
            names: name ? [normalizeTaggedName(name)] : [],
            config: blobFile(j.config.digest),
            layers: j.layers.map((l) => blobFile(l.digest)),
            manifestBytes: bytes,
            mediaType: j.mediaType ?? d.mediaType,
          });
        }
      };
      await walk(readJson(await readFile(join(files, "index.json")), "index.json"));
    } else if (have.has("manifest.json")) {
      const m = readJson<Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>>(await readFile(join(files, "manifest.json")), "manifest.json");
      for (const item of m) {
        const rel = (p: string) => {
          const r = entryPath(p);
          if (!have.has(r)) throw new Error(`the archive lacks ${p}`);
          return r;
        };
        candidates.push({ names: (item.RepoTags ?? []).map((n) => normalizeTaggedName(n)), config: rel(item.Config), layers: item.Layers.map(rel) });
      }
    } else {
      throw new Error("not an image archive: no manifest.json or index.json");
    }
    // The same image may be listed once per name: merge them.
    const byConfig = new Map<string, Candidate>();
    for (const c of candidates) {
      const prev = byConfig.get(c.config);
      if (prev) prev.names.push(...c.names.filter((n) => !prev.names.includes(n)));
      else byConfig.set(c.config, c);
    }
    const result: LoadResult = { lines: [], images: [] };
    let n = 0;
    for (const c of byConfig.values()) {
      const image = await loadOne(store, staging, files, c, n++);
      result.images.push(image);
      if (c.names.length) for (const name of c.names) result.lines.push(`Loaded image: ${name}`);
      else result.lines.push(`Loaded image ID: ${image.id}`);
    }
    return result;
  } catch (e) {
    throw new Error("load", { cause: fsError(e) });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function loadOne(store: Store, staging: string, files: string, c: Candidate, n: number): Promise<Image> {
  const configBytes = await readFile(join(files, c.config));
  const config = readJson<OciImageConfig>(configBytes, c.config);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== c.layers.length) throw new Error(`${c.config}: ${diffIds.length} diff_ids for ${c.layers.length} layers`);
  const configDigest = sha256(configBytes);
  if (c.config.startsWith("blobs/sha256/") && `sha256:${c.config.slice(13)}` !== configDigest) throw new Error(`${c.config}: content does not match its digest`);
  const staged = await inParallel(c.layers, 4, async (rel, i) => {
    const dir = join(staging, `layer-${n}-${i}`);
    const blob = join(staging, `blob-${n}-${i}`);
    const u = await unpackLayer(createReadStream(join(files, rel)), dir, blob, { zstd: true });
    if (u.diffId !== diffIds[i]) throw new Error(`layer ${rel}: its tar's digest ${u.diffId} is not the config's diff_id ${diffIds[i]}`);
    if (rel.startsWith("blobs/sha256/") && `sha256:${rel.slice(13)}` !== u.blob.digest) throw new Error(`${rel}: content does not match its digest`);
    return { dir, blob, u };
  });
  let manifestBytes = c.manifestBytes;
  let mediaType = c.mediaType ?? MEDIA_TYPE_MANIFEST;
  if (manifestBytes === undefined) {
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, digest: configDigest, size: configBytes.length },
      layers: staged.map((s) => s.u.blob),
    };
    manifestBytes = Buffer.from(JSON.stringify(manifest));
    mediaType = MEDIA_TYPE_MANIFEST;
  }
  const manifestDigest = sha256(manifestBytes);
  const bytes = manifestBytes;
  return withLock(store.lockPath, "exclusive", async () => {
    for (const [i, s] of staged.entries()) {
      await store.placeBlob(s.u.blob.digest, s.blob);
      await store.placeLayer(diffIds[i] as string, s.dir, { diff_id: diffIds[i] as string, size: s.u.size });
    }
    await store.writeBlob(configDigest, configBytes);
    await store.writeBlob(manifestDigest, bytes);
    const index = await store.readIndex();
    const desc: Descriptor = { mediaType, digest: manifestDigest, size: bytes.length };
    if (c.names.length) for (const name of c.names) store.tag(index, familiarName(splitTaggedName(name).repository) + ":" + splitTaggedName(name).tag, desc);
    else if (!index.manifests.some((d) => d.digest === manifestDigest)) index.manifests.push(desc);
    await store.writeIndex(index);
    const e = (await store.entries(index)).find((x) => x.digest === manifestDigest);
    if (e === undefined) throw new Error(`internal: manifest ${manifestDigest} not in the index just written`);
    return store.imageOf(e);
  });
}
