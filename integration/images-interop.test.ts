// Interoperability with the other OCI tools on this machine: an image built with umoci and
// pushed by skopeo is pulled and run by box (files, whiteouts and history intact); an image
// pushed by box is read by skopeo and pulled and run by podman; box save loads into podman and
// podman save loads into box. Podman's images are removed in finally.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { busyboxTar, expectOk, formatResult, harness, importBusybox, isBuilt, type Harness, type RunResult } from "./lib/harness.js";
import { startRegistry, type Registry } from "./lib/registry.js";

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
let work: string;
beforeAll(async () => {
  if (!isBuilt("box")) throw new Error("packages are not built: run `pnpm build` first");
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), "boxinterop-"));
});
afterAll(async () => {
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function sh(line: string, what: string): string {
  const r = spawnSync("sh", ["-ec", line], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}\n$ ${line}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function expectTrue(cond: boolean, r: RunResult, what: string): void {
  if (!cond) throw new Error(`${what}\n${formatResult(r)}`);
}

const PODMAN_RUN = ["podman", "--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/**
 * An OCI layout of three layers made by umoci: busybox; files under /data and /opq; then
 * /data/gone deleted (a whiteout) and /opq emptied and refilled (a whiteout per file, or an
 * opaque dir). Each repack leaves a history entry naming its step.
 */
async function umociImage(dir: string): Promise<string> {
  const layout = join(dir, "layout");
  const bundle = join(dir, "bundle");
  const tar = await busyboxTar();
  sh(
    [
      `umoci init --layout ${layout}`,
      `umoci new --image ${layout}:t`,
      `umoci unpack --image ${layout}:t ${bundle}`,
      `tar -xf ${tar} -C ${bundle}/rootfs`,
      `umoci repack --history.created_by 'step 1: busybox' --image ${layout}:t ${bundle}`,
      // A fresh unpack after each repack: repack diffs against the bundle's unpack-time mtree.
      `rm -rf ${bundle}`,
      `umoci unpack --image ${layout}:t ${bundle}`,
      `mkdir -p ${bundle}/rootfs/data ${bundle}/rootfs/opq`,
      `echo kept > ${bundle}/rootfs/data/kept`,
      `echo gone > ${bundle}/rootfs/data/gone`,
      `echo old > ${bundle}/rootfs/opq/old`,
      `umoci repack --history.created_by 'step 2: add files' --image ${layout}:t ${bundle}`,
      `rm -rf ${bundle}`,
      `umoci unpack --image ${layout}:t ${bundle}`,
      `rm ${bundle}/rootfs/data/gone ${bundle}/rootfs/opq/old`,
      `echo new > ${bundle}/rootfs/opq/new`,
      `umoci repack --history.created_by 'step 3: delete files' --image ${layout}:t ${bundle}`,
      `umoci config --image ${layout}:t --config.cmd sh --config.env PATH=/bin`,
      `rm -rf ${bundle}`,
    ].join("\n"),
    "build the image with umoci",
  );
  return layout;
}

describe("interoperability", () => {
  it("skopeo pushes a umoci image; box pulls it and runs it with its files, deletions and history", async () => {
    const dir = join(work, "umoci");
    mkdirSync(dir);
    const layout = await umociImage(dir);
    const ref = `${reg.host}/umoci/multi:t`;
    sh(`skopeo copy --dest-tls-verify=false oci:${layout}:t docker://${ref}`, "skopeo copy");

    const h = await newHarness();
    const pull = expectOk(await h.box("pull", ref));
    expectTrue((pull.stderr.match(/Pull complete/g) ?? []).length === 3, pull, "three layers pulled");
    const run = expectOk(await h.box("run", "--rm", ref, "sh", "-c", "cat /data/kept /opq/new; ls /data; ls /opq; test ! -e /data/gone && test ! -e /opq/old && echo deletions-kept"));
    expect(run.stdout).toBe("kept\nnew\nkept\nnew\ndeletions-kept\n");
    const hist = expectOk(await h.box("history", "--no-trunc", ref));
    for (const step of ["step 1: busybox", "step 2: add files", "step 3: delete files"]) expectTrue(hist.stdout.includes(step), hist, `history has "${step}"`);
    expectTrue(hist.stdout.includes("<missing>"), hist, "lower layers are <missing>");
  });

  it("box pushes; skopeo reads it; podman pulls and runs it", async () => {
    const h = await newHarness();
    await importBusybox(h);
    const ref = `${reg.host}/boxed/bb:1`;
    expectOk(await h.box("tag", "busybox", ref));
    const digest = expectOk(await h.box("push", ref)).stdout.trim();
    const info = JSON.parse(sh(`skopeo inspect --tls-verify=false docker://${ref}`, "skopeo inspect"));
    expect(info.Digest).toBe(digest);
    expect(info.Layers).toHaveLength(1);
    try {
      const r = spawnSync(PODMAN_RUN[0] as string, [...PODMAN_RUN.slice(1), "--tls-verify=false", ref, "echo", "podman-ran-it"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`podman run: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
      expect(r.stdout.trim().split("\n").pop()).toBe("podman-ran-it");
    } finally {
      spawnSync("podman", ["rmi", "-f", ref], { stdio: "ignore" });
    }
  });

  it("box save loads into podman; podman save loads into box and runs", async () => {
    const h = await newHarness();
    const id = await importBusybox(h);
    const name = "localhost/boxsave/bb:1";
    expectOk(await h.box("tag", "busybox", name));
    const tar = join(work, "box-save.tar");
    expectOk(await h.box("save", "-o", tar, name));
    const podmanTar = join(work, "podman-save.tar");
    try {
      sh(`podman load -i ${tar}`, "podman load of box save");
      const podId = sh(`podman image inspect --format '{{.Id}}' ${name}`, "podman image inspect").trim();
      expect(`sha256:${podId}`).toBe(id);
      sh(`podman save -o ${podmanTar} ${name}`, "podman save");
    } finally {
      spawnSync("podman", ["rmi", "-f", name], { stdio: "ignore" });
    }
    const b = await newHarness();
    const load = expectOk(await b.box("load", "-i", podmanTar));
    expectTrue(load.stdout.includes("Loaded image: localhost/boxsave/bb:1"), load, "podman save output loads");
    expect(expectOk(await b.box("run", "--rm", name, "echo", "loaded")).stdout).toBe("loaded\n");
    expect(existsSync(podmanTar)).toBe(true);
  });

  it("box save | box load round trip keeps IDs and digests", async () => {
    const a = await newHarness();
    const id = await importBusybox(a);
    const tar = join(work, "rt.tar");
    expectOk(await a.run(["sh", "-c", `box save busybox > ${tar}`]));
    const b = await newHarness();
    const r = expectOk(await b.box("load", "-i", tar));
    expect(r.stdout).toBe("Loaded image: busybox:latest\n");
    expect(JSON.parse(expectOk(await b.box("image", "inspect", "busybox")).stdout)[0].Id).toBe(id);
    writeFileSync(join(work, "junk.tar"), "not a tar");
    const bad = await b.box("load", "-i", join(work, "junk.tar"));
    expectTrue(bad.code === 1 && /box: load/.test(bad.stderr), bad, "junk refused");
  });
});
