import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AmbiguousImageError, ImageConflictError, NoSuchImageError } from "./errors.js";
import { Store } from "./store.js";
import { makeTar, stream, tempRoot } from "./testutil.js";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;

beforeEach(async () => {
  ({ dir, cleanup } = await tempRoot());
  store = new Store(join(dir, "store"));
});
afterEach(async () => {
  await cleanup();
});

const rootfs = (marker = "1") =>
  makeTar([
    { header: { name: "bin", type: "directory" } },
    { header: { name: "bin/sh", type: "file", mode: 0o755 }, data: `#!marker ${marker}\n` },
    { header: { name: "etc/hostname", type: "file" }, data: "box\n" },
  ]);

function index(): { manifests: Array<{ digest: string; annotations?: Record<string, string> }> } {
  return JSON.parse(readFileSync(join(store.root, "images", "index.json"), "utf8")) as ReturnType<typeof index>;
}
const blobs = () => readdirSync(join(store.root, "images", "blobs", "sha256")).sort();
const layerDirs = () => readdirSync(join(store.root, "layers")).filter((n) => !n.endsWith(".json"));
const tmp = () => readdirSync(join(store.root, "tmp"));

describe("Store", () => {
  it("keeps an OCI image layout with named manifests", async () => {
    const img = await store.importTar("busybox", stream(await rootfs()), { changes: ['CMD ["sh"]'], message: "first" });
    expect(JSON.parse(readFileSync(join(store.root, "images", "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(index().manifests).toEqual([
      expect.objectContaining({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: img.digest,
        annotations: { "org.opencontainers.image.ref.name": "busybox:latest" },
      }),
    ]);
    // Image ID = sha256 of the config blob, as Docker.
    const configBytes = readFileSync(store.blobPath(img.id));
    expect(`sha256:${createHash("sha256").update(configBytes).digest("hex")}`).toBe(img.id);
    expect(JSON.parse(configBytes.toString())).toEqual(img.config);
    expect(img.config.config).toEqual({ Cmd: ["sh"] });
    expect(img.config.history).toEqual([{ created: img.config.created, created_by: "mkroot import", comment: "first" }]);
    expect(img.names).toEqual(["busybox:latest"]);
    expect(blobs()).toHaveLength(3); // layer, config, manifest
    expect(tmp()).toEqual([]);
    // Layer dirs are the unpacked roots themselves; metadata sits beside them.
    const hex = img.config.rootfs.diff_ids[0]?.slice(7) as string;
    expect(img.layers).toEqual([join(store.root, "layers", hex)]);
    expect(readdirSync(img.layers[0] as string).sort()).toEqual(["bin", "etc"]);
    expect(JSON.parse(readFileSync(`${img.layers[0]}.json`, "utf8"))).toMatchObject({ diff_id: `sha256:${hex}` });
    for (const d of ["layers", "tmp", "images"]) expect(statSync(join(store.root, d)).mode & 0o777).toBe(0o700);
  });

  it("resolves names, tags, digests, IDs and ID prefixes", async () => {
    const img = await store.importTar("local/app:v1", stream(await rootfs()));
    const hex = img.id.slice(7);
    for (const ref of ["local/app:v1", `local/app@${img.digest}`, img.id, hex, hex.slice(0, 4), `sha256:${hex.slice(0, 6)}`]) {
      expect((await store.get(ref)).id, ref).toBe(img.id);
    }
    expect(await store.layers("local/app:v1")).toEqual(img.layers);
    await expect(store.get("local/app")).rejects.toThrow(new NoSuchImageError("local/app"));
    await expect(store.get("local/app")).rejects.toThrow("No such image: local/app");
    await expect(store.get(`other@${img.digest}`)).rejects.toBeInstanceOf(NoSuchImageError);
    await expect(store.get(`sha256:${"0".repeat(64)}`)).rejects.toBeInstanceOf(NoSuchImageError);
    await expect(store.get("Bad Name")).rejects.toThrow(/invalid reference/);
    expect(new NoSuchImageError("x").exitCode).toBe(1);
  });

  it("reads an absent store as empty without creating it", async () => {
    expect(await store.list()).toEqual([]);
    await expect(store.get("busybox")).rejects.toThrow("No such image: busybox");
    await expect(store.remove("busybox")).rejects.toThrow("No such image: busybox");
    expect(existsSync(store.root)).toBe(false);
  });

  it("validates name and changes before touching anything", async () => {
    await expect(store.importTar("x", stream(await rootfs()), { changes: ["RUN rm -rf /"] })).rejects.toThrow(/RUN is not a valid change instruction/);
    await expect(store.importTar("Bad", stream(await rootfs()))).rejects.toThrow(/must be lowercase/);
    await expect(store.importTar(`x@sha256:${"a".repeat(64)}`, stream(await rootfs()))).rejects.toThrow(/by digest/);
    expect(existsSync(store.root)).toBe(false);
  });

  it("lists images with names, creation time and size", async () => {
    const a = await store.importTar("a", stream(await rootfs("a")));
    const b = await store.importTar("b:2", stream(await rootfs("bb")));
    const list = await store.list();
    expect(list.map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    const sb = list.find((i) => i.id === b.id);
    expect(sb).toEqual({ id: b.id, names: ["b:2"], repoDigests: [], digest: b.digest, created: b.config.created, size: "#!marker bb\n".length + "box\n".length });
  });

  it("gives identical content the existing image instead of a twin", async () => {
    const tar = await rootfs();
    const a = await store.importTar("a", stream(tar), { changes: ["CMD sh"] });
    const again = await store.importTar("a", stream(tar), { changes: ["CMD sh"] });
    const b = await store.importTar("b", stream(tar), { changes: ["CMD sh"] });
    expect(again.id).toBe(a.id);
    expect(b.id).toBe(a.id);
    expect(b.names).toEqual(["a:latest", "b:latest"]);
    expect(await store.list()).toHaveLength(1);
    expect(blobs()).toHaveLength(3);
    expect(tmp()).toEqual([]);
  });

  it("leaves a retagged image dangling, as Docker does, and shares its layer", async () => {
    const tar = await rootfs();
    const old = await store.importTar("app", stream(tar), { changes: ["CMD old"] });
    const cur = await store.importTar("app", stream(tar), { changes: ["CMD new"] });
    expect(cur.id).not.toBe(old.id);
    expect(cur.layers).toEqual(old.layers);
    const list = await store.list();
    expect(list.find((i) => i.id === old.id)?.names).toEqual([]);
    expect(list.find((i) => i.id === cur.id)?.names).toEqual(["app:latest"]);
    expect(layerDirs()).toHaveLength(1);
    // The dangling image is still there by ID; removing it keeps the shared layer.
    expect(await store.remove(old.id.slice(7, 15))).toEqual([`Deleted: ${old.id}`]);
    expect(existsSync(cur.layers[0] as string)).toBe(true);
    expect((await store.get("app")).id).toBe(cur.id);
  });

  it("untags, then deletes the image and what only it used", async () => {
    const tar = await rootfs();
    const img = await store.importTar("a", stream(tar));
    await store.importTar("b", stream(tar));
    expect(await store.remove("a")).toEqual(["Untagged: a:latest"]);
    expect((await store.get("b")).id).toBe(img.id);
    const diffId = img.config.rootfs.diff_ids[0] as string;
    expect(await store.remove("b:latest")).toEqual(["Untagged: b:latest", `Deleted: ${img.id}`, `Deleted: ${diffId}`]);
    expect(existsSync(img.layers[0] as string)).toBe(false);
    expect(existsSync(`${img.layers[0]}.json`)).toBe(false);
    expect(blobs()).toEqual([]);
    expect(layerDirs()).toEqual([]);
    expect(tmp()).toEqual([]);
    expect(index().manifests).toEqual([]);
    await expect(store.remove("b")).rejects.toThrow("No such image: b");
  });

  it("refuses to remove by ID an image with several names unless forced", async () => {
    const tar = await rootfs();
    const img = await store.importTar("a", stream(tar));
    await store.importTar("b", stream(tar));
    await expect(store.remove(img.id)).rejects.toBeInstanceOf(ImageConflictError);
    await expect(store.remove(img.id)).rejects.toThrow(/must be forced.*referenced in multiple repositories/);
    const lines = await store.remove(img.id, { force: true });
    expect(lines.slice(0, 3)).toEqual(["Untagged: a:latest", "Untagged: b:latest", `Deleted: ${img.id}`]);
    expect(await store.list()).toEqual([]);
  });

  it("keeps a layer another image still uses", async () => {
    const tar = await rootfs();
    const a = await store.importTar("a", stream(tar), { changes: ["CMD a"] });
    const b = await store.importTar("b", stream(tar), { changes: ["CMD b"] });
    expect(await store.remove("a")).toEqual(["Untagged: a:latest", `Deleted: ${a.id}`]);
    expect(existsSync(b.layers[0] as string)).toBe(true);
    expect(blobs()).toHaveLength(3);
  });

  it("says which images an ambiguous ID prefix matches", async () => {
    // Two configs whose IDs share 4 hex digits, found by trying labels, written as a store would.
    const img = await store.importTar("base", stream(await rootfs()));
    const seen = new Map<string, Buffer>();
    let pair: [Buffer, Buffer] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const cfg = Buffer.from(JSON.stringify({ ...img.config, config: { Labels: { n: String(i) } } }));
      const p = createHash("sha256").update(cfg).digest("hex").slice(0, 4);
      const other = seen.get(p);
      if (other) pair = [other, cfg];
      else seen.set(p, cfg);
    }
    const manifest = JSON.parse(readFileSync(store.blobPath(img.digest), "utf8")) as { config: { digest: string; size: number } };
    const idx = index();
    for (const [n, cfg] of pair.entries()) {
      const cd = `sha256:${createHash("sha256").update(cfg).digest("hex")}`;
      writeFileSync(store.blobPath(cd), cfg);
      const m = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: cd, size: cfg.length } }));
      const md = `sha256:${createHash("sha256").update(m).digest("hex")}`;
      writeFileSync(store.blobPath(md), m);
      idx.manifests.push({ digest: md, annotations: { "org.opencontainers.image.ref.name": `twin${n}:latest` } });
    }
    writeFileSync(join(store.root, "images", "index.json"), JSON.stringify(idx));
    const prefix = createHash("sha256").update(pair[0]).digest("hex").slice(0, 4);
    await expect(store.get(prefix)).rejects.toBeInstanceOf(AmbiguousImageError);
    await expect(store.get(prefix)).rejects.toThrow(`${prefix}: prefix matches 2 images`);
  });

  it("survives four concurrent imports of the same tar with one consistent image", async () => {
    const tar = await rootfs();
    const images = await Promise.all([1, 2, 3, 4].map(() => store.importTar("same", stream(tar), { changes: ["CMD sh"] })));
    expect(new Set(images.map((i) => i.id)).size).toBe(1);
    expect(await store.list()).toHaveLength(1);
    expect(layerDirs()).toHaveLength(1);
    expect(blobs()).toHaveLength(3);
    expect(tmp()).toEqual([]);
    expect(index().manifests).toHaveLength(1);
  });

  it("takes concurrent imports of different tars under different names", async () => {
    const images = await Promise.all([1, 2, 3, 4].map(async (n) => store.importTar(`img${n}`, stream(await rootfs(String(n))))));
    expect(new Set(images.map((i) => i.id)).size).toBe(4);
    for (const [n, img] of images.entries()) expect((await store.get(`img${n + 1}`)).id).toBe(img.id);
    expect(layerDirs()).toHaveLength(4);
    expect(tmp()).toEqual([]);
  });

  it("cleans staging left by dead processes", async () => {
    const dead = spawnSync("true").pid as number;
    mkdirSync(join(store.root, "tmp", `${dead}-import-abc`, "layer"), { recursive: true });
    mkdirSync(join(store.root, "tmp", `${process.ppid}-import-live`), { recursive: true });
    await store.importTar("x", stream(await rootfs()));
    expect(tmp()).toEqual([`${process.ppid}-import-live`]);
  });
});
