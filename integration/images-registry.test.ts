// Pull and push against Debian's docker-registry (CNCF distribution) on 127.0.0.1, as a user
// would: mkroot and box binaries, private BOX_ROOTs, the registry killed and removed in finally.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatResult, harness, importBusybox, isBuilt, type Harness, type RunResult } from "./lib/harness.js";
import { startRegistry, type Registry } from "./lib/registry.js";
import { makeImage, makeIndex, makeTar, sha256, startFakeRegistry } from "./lib/fake-registry.js";

const open: Harness[] = [];
async function newHarness(): Promise<Harness> {
  const h = await harness();
  open.push(h);
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup();
});

let reg: Registry;
beforeAll(async () => {
  if (!isBuilt("mkroot") || !isBuilt("box")) throw new Error("packages are not built: run `pnpm build` first");
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

function expectTrue(cond: boolean, r: RunResult, what: string): void {
  if (!cond) throw new Error(`${what}\n${formatResult(r)}`);
}

/** Nothing staged, no blob, no layer, no name: the store is as empty as it started. */
function expectNothingStored(h: Harness): void {
  for (const d of ["tmp", "layers", join("images", "blobs", "sha256")]) {
    let names: string[] = [];
    try {
      names = readdirSync(join(h.root, d));
    } catch {
      // never created
    }
    expect(names, `${d} should be empty`).toEqual([]);
  }
  const index = join(h.root, "images", "index.json");
  if (existsSync(index)) expect(JSON.parse(readFileSync(index, "utf8")).manifests).toEqual([]);
}

describe("pull and push with a plain registry", () => {
  it("mkroot push, then mkroot pull into another store: same image, same layers, runnable by box", async () => {
    const a = await newHarness();
    const id = await importBusybox(a);
    const ref = `${reg.host}/box/busybox:1`;
    expectOk(await a.tool("mkroot", "tag", "busybox", ref));
    const pushed = expectOk(await a.tool("mkroot", "push", ref));
    expectTrue(/^sha256:[a-f0-9]{64}\n$/.test(pushed.stdout), pushed, "the manifest digest on stdout");

    const b = await newHarness();
    const pulled = expectOk(await b.tool("mkroot", "pull", ref));
    expect(pulled.stdout.trim()).toBe(id);
    const layers = expectOk(await b.tool("mkroot", "layers", ref)).stdout.trim().split("\n");
    expect(layers).toHaveLength(1);
    expect(statSync(join(layers[0] as string, "bin", "busybox")).isFile()).toBe(true);

    const run = expectOk(await b.box("run", "--rm", ref, "echo", "pulled-and-run"));
    expect(run.stdout).toBe("pulled-and-run\n");

    // Again: nothing fetched, nothing new stored.
    const again = expectOk(await b.box("pull", ref));
    expectTrue(again.stderr.includes("Already exists") && again.stderr.includes("Status: Image is up to date"), again, "second pull reuses the layer");
    expect(again.stdout).toBe(`${ref}\n`);
  });

  it("box pull/images --digests/tag/history/image inspect/push (mount across repositories)/rmi", async () => {
    const a = await newHarness();
    await importBusybox(a);
    const src = `${reg.host}/lib/bb:v1`;
    expectOk(await a.box("tag", "busybox", src));
    const push = expectOk(await a.box("push", src));
    expectTrue(/v1: digest: sha256:[a-f0-9]{64} size: \d+/.test(push.stderr) && /Pushed/.test(push.stderr), push, "Docker's push lines");

    const b = await newHarness();
    const pull = expectOk(await b.box("pull", src));
    expectTrue(/Pulling from lib\/bb/.test(pull.stderr) && /Pull complete/.test(pull.stderr) && /Digest: sha256:/.test(pull.stderr), pull, "Docker's pull lines");
    expect(pull.stdout).toBe(`${src}\n`);

    const digests = expectOk(await b.box("images", "--digests"));
    const digest = /sha256:[a-f0-9]{64}/.exec(push.stderr)?.[0] ?? "?";
    expectTrue(digests.stdout.split("\n")[0]?.startsWith("REPOSITORY") === true && digests.stdout.includes(digest), digests, "--digests shows the repo digest");
    const json = expectOk(await b.box("images", "--format", "json"));
    expect(JSON.parse(json.stdout.trim().split("\n")[0] as string)).toMatchObject({ Repository: `${reg.host}/lib/bb`, Tag: "v1", Digest: digest });

    // By digest, too.
    expectOk(await b.box("image", "inspect", `${reg.host}/lib/bb@${digest}`));

    const hist = expectOk(await b.box("history", src));
    expectTrue(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/.test(hist.stdout) && hist.stdout.includes("mkroot import"), hist, "history columns");

    const insp = expectOk(await b.box("image", "inspect", src));
    const obj = JSON.parse(insp.stdout)[0];
    expect(obj.RepoTags).toEqual([src]);
    expect(obj.RepoDigests).toEqual([`${reg.host}/lib/bb@${digest}`]);
    expect(obj.RootFS.Layers).toHaveLength(1);

    // Another repository on the same registry: the layer is mounted, not uploaded.
    const dst = `${reg.host}/other/bb:v2`;
    expectOk(await b.box("tag", src, dst));
    const push2 = expectOk(await b.box("push", dst));
    expectTrue(/Mounted from lib\/bb/.test(push2.stderr), push2, "cross-repository mount");
    // And the same again: "Layer already exists".
    const push3 = expectOk(await b.box("push", dst));
    expectTrue(/Layer already exists/.test(push3.stderr), push3, "blob exists check");

    const rmi = expectOk(await b.box("rmi", src, dst));
    expectTrue(/Deleted: sha256:/.test(rmi.stdout), rmi, "rmi deletes the image");
    expectNothingStored(b);
  });

  it("chunked upload of a large layer (BOX_UPLOAD_CHUNK_SIZE), then pull verifies it", async () => {
    const a = await newHarness();
    await importBusybox(a);
    const ref = `${reg.host}/chunked/bb:1`;
    expectOk(await a.box("tag", "busybox", ref));
    expectOk(await a.box("push", "-q", ref, { env: { BOX_UPLOAD_CHUNK_SIZE: String(256 * 1024) } }));
    const b = await newHarness();
    expectOk(await b.box("pull", "-q", ref));
    expect(expectOk(await b.box("run", "--rm", ref, "echo", "ok")).stdout).toBe("ok\n");
  });

  it("box run pulls an image that is not here (Unable to find image locally)", async () => {
    const a = await newHarness();
    await importBusybox(a);
    const ref = `${reg.host}/run/bb`;
    expectOk(await a.box("tag", "busybox", ref));
    expectOk(await a.box("push", "-q", ref));
    const b = await newHarness();
    const r = expectOk(await b.box("run", "--rm", "--network", "none", ref, "echo", "hi"));
    expect(r.stdout).toBe("hi\n");
    expect(r.stderr).toMatch(new RegExp(`^Unable to find image '${ref}:latest' locally\n`));
    expect(r.stderr).toContain(`Status: Downloaded newer image for ${ref}:latest`);
    expect(expectOk(await b.box("images", "--format", "{{.Repository}}:{{.Tag}}")).stdout).toBe(`${ref}:latest\n`);
    // Here now: run does not pull again; --pull always asks the registry anyway.
    expect(expectOk(await b.box("run", "--rm", "--network", "none", ref, "true")).stderr).toBe("");
    expect(expectOk(await b.box("run", "--rm", "--network", "none", "--pull", "always", ref, "true")).stderr).toContain(`Status: Image is up to date for ${ref}:latest`);
  });

  it("bad input: unknown repository or tag, registry down, malformed reference: one line, non-zero, nothing stored", async () => {
    const h = await newHarness();
    const unknown = expectCode(await h.box("pull", `${reg.host}/no/such:tag`), 1);
    expectTrue(/box: pull .*manifest unknown/.test(unknown.stderr), unknown, "manifest unknown named");
    const down = expectCode(await h.box("pull", "127.0.0.1:1/x"), 1);
    expectTrue(/connection refused/.test(down.stderr), down, "registry down named");
    const bad = expectCode(await h.box("pull", "Bad//Ref"), 125);
    expectTrue(/invalid reference/.test(bad.stderr), bad, "malformed reference");
    const badm = expectCode(await h.tool("mkroot", "pull", "x@sha256:123"), 2);
    expectTrue(/invalid reference/.test(badm.stderr), badm, "mkroot: usage error");
    const nopush = expectCode(await h.box("push", `${reg.host}/not/here`), 1);
    expectTrue(/No such image/.test(nopush.stderr), nopush, "push of a missing image");
    expectNothingStored(h);
  });
});

describe("manifest kinds and layer compressions", () => {
  it("a manifest list: linux/amd64 by default (this machine), --platform picks another", async () => {
    const h = await newHarness();
    const amd = makeImage([makeTar({ "arch.txt": "amd64\n" })], ["sh"], { architecture: "amd64" });
    const arm = makeImage([makeTar({ "arch.txt": "arm64\n" })], ["sh"], { architecture: "arm64" });
    const fake = await startFakeRegistry({ "multi:1": makeIndex([{ image: amd, architecture: "amd64" }, { image: arm, architecture: "arm64", variant: "v8" }]) });
    try {
      const ref = `${fake.host}/multi:1`;
      const d = await newHarness();
      expectOk(await d.box("pull", ref));
      const dd = expectOk(await d.tool("mkroot", "layers", ref)).stdout.trim().split("\n");
      expect(readFileSync(join(dd[0] as string, "arch.txt"), "utf8")).toBe(process.arch === "arm64" ? "arm64\n" : "amd64\n");
      const r = expectOk(await h.box("pull", "--platform", "linux/arm64", ref));
      const dirs = expectOk(await h.tool("mkroot", "layers", ref)).stdout.trim().split("\n");
      expect(readFileSync(join(dirs[0] as string, "arch.txt"), "utf8")).toBe("arm64\n");
      // The name's digest is the list's, as Docker records it; box images --digests shows it.
      expectTrue(r.stderr.includes(`Digest: ${sha256(makeIndex([{ image: amd, architecture: "amd64" }, { image: arm, architecture: "arm64", variant: "v8" }]).manifest)}`), r, "index digest");
      const none = expectCode(await h.box("pull", "--platform", "linux/s390x", ref), 1);
      expectTrue(/no image for linux\/s390x in the index \(it has: linux\/amd64, linux\/arm64\/v8\)/.test(none.stderr), none, "missing platform named");
    } finally {
      await fake.stop();
    }
  });

  it("zstd layers are pulled and unpacked", async () => {
    const h = await newHarness();
    const img = makeImage([makeTar({ "z.txt": "zstd layer\n" }), makeTar({ "g/": "", "g/x": "second\n" })], ["sh"], { zstd: true });
    const fake = await startFakeRegistry({ "z:1": img });
    try {
      expectOk(await h.box("pull", `${fake.host}/z:1`));
      const dirs = expectOk(await h.tool("mkroot", "layers", `${fake.host}/z:1`)).stdout.trim().split("\n");
      expect(readFileSync(join(dirs[1] as string, "z.txt"), "utf8")).toBe("zstd layer\n");
      expect(readFileSync(join(dirs[0] as string, "g", "x"), "utf8")).toBe("second\n");
    } finally {
      await fake.stop();
    }
  });
});

describe("a misbehaving registry", () => {
  const good = makeImage([makeTar({ "bin/": "", "hello.txt": "hello\n" }), makeTar({ "etc/": "", "etc/motd": "second layer\n" })]);

  it("a blob whose bytes do not match its digest: refused, nothing stored", async () => {
    const h = await newHarness();
    const layer = good.layers[1] as Buffer;
    const tampered = Buffer.from(layer);
    tampered[4] = (tampered[4] ?? 0) ^ 0xff; // gzip's MTIME: still a valid gzip of the same tar, other bytes
    const fake = await startFakeRegistry({ "img:1": good }, { blobs: { [sha256(layer)]: { replaceWith: tampered } } });
    try {
      const r = expectCode(await h.box("pull", `${fake.host}/img:1`), 1);
      expectTrue(/digest mismatch/.test(r.stderr) && r.stderr.trim().split("\n").filter((l) => l.startsWith("box:")).length === 1, r, "one line naming the mismatch");
      expectNothingStored(h);
    } finally {
      await fake.stop();
    }
  });

  it("a manifest whose digest does not match: refused, nothing stored", async () => {
    const h = await newHarness();
    const fake = await startFakeRegistry({ "img:1": good }, { manifestHeaderDigest: `sha256:${"0".repeat(64)}` });
    try {
      const r = expectCode(await h.box("pull", `${fake.host}/img:1`), 1);
      expectTrue(/digest mismatch/.test(r.stderr), r, "manifest digest mismatch named");
      const byDigest = expectCode(await h.box("pull", `${fake.host}/img@sha256:${"1".repeat(64)}`), 1);
      expectTrue(/manifest unknown|digest mismatch/.test(byDigest.stderr), byDigest, "pull by a digest it does not have");
      expectNothingStored(h);
    } finally {
      await fake.stop();
    }
  });

  it("a dropped connection mid-blob is retried from scratch and the pull completes", async () => {
    const h = await newHarness();
    const layer = good.layers[0] as Buffer;
    const fake = await startFakeRegistry({ "img:1": good }, { blobs: { [sha256(layer)]: { dropAfter: 20, times: 1 } } });
    try {
      const r = expectOk(await h.box("pull", `${fake.host}/img:1`));
      expectTrue(/Retrying/.test(r.stderr), r, "the retry is shown");
      expect(fake.blobRequests.get(sha256(layer))).toBe(2);
      const dirs = expectOk(await h.tool("mkroot", "layers", `${fake.host}/img:1`)).stdout.trim().split("\n");
      expect(readFileSync(join(dirs[1] as string, "hello.txt"), "utf8")).toBe("hello\n");
      expect(readdirSync(join(h.root, "tmp"))).toEqual([]);
    } finally {
      await fake.stop();
    }
  });

  it("a connection that keeps dropping: one line, nothing stored; a later pull starts clean", async () => {
    const h = await newHarness();
    const layer = good.layers[0] as Buffer;
    const fake = await startFakeRegistry({ "img:1": good }, { blobs: { [sha256(layer)]: { dropAfter: 20, times: 3 } } });
    try {
      const r = expectCode(await h.box("pull", `${fake.host}/img:1`), 1);
      expectTrue(/closed|terminated|socket|truncated|end of data/i.test(r.stderr), r, "dropped connection named");
      expectNothingStored(h);
      expectOk(await h.box("pull", `${fake.host}/img:1`));
    } finally {
      await fake.stop();
    }
  });

  it("a layer with ../ entries is refused, nothing stored", async () => {
    const h = await newHarness();
    const evil = makeImage([makeTar({ "ok.txt": "fine", "../escape.txt": "out" })]);
    const fake = await startFakeRegistry({ "evil:1": evil });
    try {
      const r = expectCode(await h.box("pull", `${fake.host}/evil:1`), 1);
      expectTrue(/climbs out of the layer root/.test(r.stderr), r, "the ../ entry named");
      expectNothingStored(h);
      expect(existsSync(join(h.root, "..", "escape.txt"))).toBe(false);
    } finally {
      await fake.stop();
    }
  });

  it("a disk that fills during unpack (small tmpfs as BOX_ROOT): one line, nothing half-stored", async () => {
    const h = await newHarness();
    const big = makeImage([makeTar({ "big.bin": "x".repeat(3 << 20) })]);
    const fake = await startFakeRegistry({ "big:1": big });
    const mnt = join(h.root, "small");
    spawnSync("mkdir", ["-p", mnt]);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
    if (m.status !== 0) throw new Error(`mount tmpfs: ${m.stderr}`);
    try {
      const r = expectCode(await h.box("pull", `${fake.host}/big:1`, { env: { BOX_ROOT: mnt } }), 1);
      expectTrue(/ENOSPC/.test(r.stderr), r, "disk full named");
      for (const d of ["tmp", "layers", join("images", "blobs", "sha256")]) expect(readdirSync(join(mnt, d)), d).toEqual([]);
    } finally {
      spawnSync("umount", [mnt]);
      await fake.stop();
    }
  });
});

describe("image verbs without a registry", () => {
  it("--help for every image verb prints usage on stdout and exits 0", async () => {
    const h = await newHarness();
    for (const argv of [["pull"], ["push"], ["login"], ["logout"], ["tag"], ["history"], ["save"], ["load"], ["images"], ["image"], ["image", "inspect"], ["image", "prune"], ["image", "ls"]]) {
      const r = expectOk(await h.box(...argv, "--help"));
      expectTrue(r.stdout.startsWith("Usage:  box ") && r.stderr === "", r, `${argv.join(" ")} --help`);
    }
  });

  it("image prune removes dangling images only; -a removes unused named ones too", async () => {
    const h = await newHarness();
    await importBusybox(h);
    // Re-importing under the same name with another change leaves the first image dangling.
    expectOk(await h.tool("mkroot", "import", "--change", "ENV X=1", "busybox:latest", await (await import("./lib/harness.js")).busyboxTar()));
    const before = expectOk(await h.box("images", "-q")).stdout.trim().split("\n");
    expect(before).toHaveLength(2);
    const r = expectOk(await h.box("image", "prune", "-f"));
    expectTrue(/^Deleted Images:\nuntagged: |^Deleted Images:\ndeleted: sha256:/.test(r.stdout) && /Total reclaimed space: /.test(r.stdout), r, "Docker's prune output");
    expect(expectOk(await h.box("images", "-q")).stdout.trim().split("\n")).toHaveLength(1);
    expectOk(await h.box("image", "prune", "-a", "-f"));
    expect(expectOk(await h.box("images", "-q")).stdout).toBe("");
    expectNothingStored(h);
  });
});
