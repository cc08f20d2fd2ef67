import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NoSuchImageError } from "./errors.js";
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

const base = () =>
  makeTar([
    { header: { name: "bin", type: "directory" } },
    { header: { name: "bin/sh", type: "file", mode: 0o755 }, data: "#!sh\n" },
  ]);
const extra = (content = "hello\n") => makeTar([{ header: { name: "app", type: "directory" } }, { header: { name: "app/file", type: "file" }, data: content }]);

describe("Store.commit", () => {
  it("stacks new layers and history on a parent, keeping its config unless told", async () => {
    const parent = await store.importTar("base", stream(await base()), { changes: ['CMD ["sh"]', "ENV A=1"] });
    const img = await store.commit({
      parent: "base",
      layers: [
        { tar: stream(await extra()), createdBy: "COPY file:abc in /app" },
        { emptyLayer: true, createdBy: '/bin/sh -c #(nop)  CMD ["app"]' },
      ],
      changes: ['CMD ["app"]'],
      tags: ["app:v1"],
      created: "2020-01-01T00:00:00.000Z",
    });
    expect(img.names).toEqual(["app:v1"]);
    expect(img.config.created).toBe("2020-01-01T00:00:00.000Z");
    expect(img.config.config).toEqual({ Env: ["A=1"], Cmd: ["app"] });
    expect(img.config.rootfs.diff_ids).toHaveLength(2);
    expect(img.config.rootfs.diff_ids[0]).toBe(parent.config.rootfs.diff_ids[0]);
    expect(img.config.history?.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ["mkroot import", false],
      ["COPY file:abc in /app", false],
      ['/bin/sh -c #(nop)  CMD ["app"]', true],
    ]);
    // Top first, ready for overlay; the new layer is a plain tar whose blob digest is its diff_id.
    expect(img.layers).toHaveLength(2);
    expect(readFileSync(join(img.layers[0] as string, "app", "file"), "utf8")).toBe("hello\n");
    const m = await store.manifestOf("app:v1");
    expect(m.manifest.layers[1]).toMatchObject({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: img.config.rootfs.diff_ids[1] });
    expect(m.manifest.layers[0]).toEqual(parent.config && (await store.manifestOf("base")).manifest.layers[0]);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });

  it("makes the same image from the same input and time (reproducible)", async () => {
    const a = await store.commit({ layers: [{ tar: stream(await extra()), createdBy: "x" }], created: "2020-01-01T00:00:00Z" });
    const b = await store.commit({ layers: [{ tar: stream(await extra()), createdBy: "x" }], created: "2020-01-01T00:00:00Z", tags: ["t"] });
    expect(b.id).toBe(a.id);
    expect(b.digest).toBe(a.digest);
    // Without a tag it stays a dangling image until tagged.
    expect((await store.list()).map((i) => i.names)).toEqual([["t:latest"]]);
  });

  it("reuses stored layers by diff_id (addLayer), and refuses ones not stored", async () => {
    const path = join(dir, "layer.tar");
    writeFileSync(path, await extra("x\n"));
    const l = await store.addLayer(path);
    expect(existsSync(l.dir)).toBe(true);
    expect(l.blob.digest).toBe(l.diffId);
    const img = await store.commit({ layers: [{ diffId: l.diffId, createdBy: "RUN x" }], tags: ["r"] });
    expect(img.layers).toEqual([l.dir]);
    expect((await store.manifestOf("r")).manifest.layers[0]).toEqual(l.blob);
    const err = await store.commit({ layers: [{ diffId: `sha256:${"1".repeat(64)}`, createdBy: "x" }] }).catch((e: unknown) => e as Error);
    expect(String((err as Error).cause)).toMatch(/is not in the store/);
  });

  it("checks names, changes and the parent before writing anything", async () => {
    await expect(store.commit({ layers: [], tags: ["Bad Name"] })).rejects.toThrow(/invalid reference/);
    await expect(store.commit({ layers: [], changes: ["FROM x"] })).rejects.toThrow(/not a valid change/);
    await expect(store.commit({ parent: "nope", layers: [] })).rejects.toBeInstanceOf(NoSuchImageError);
    expect(existsSync(join(store.root, "layers"))).toBe(false);
  });

  it("keeps Docker's build-only config fields (Healthcheck, OnBuild, Shell)", async () => {
    const img = await store.commit({
      layers: [{ emptyLayer: true, createdBy: "x" }],
      config: { Shell: ["/bin/bash", "-c"], OnBuild: ["RUN true"], Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 1e9 } },
      tags: ["h"],
    });
    expect(img.config.config).toEqual({ Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 1e9 }, OnBuild: ["RUN true"], Shell: ["/bin/bash", "-c"] });
    expect(img.config.rootfs.diff_ids).toEqual([]);
  });
});
