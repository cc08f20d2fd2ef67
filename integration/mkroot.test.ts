// mkroot as a user runs it: the built binary against a private BOX_ROOT, as root.
import { mkdirSync, readdirSync, readFileSync, statSync, lstatSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { busyboxTar, expectCode, expectOk, formatResult, harness, isBuilt, type Harness, type RunResult } from "./lib/harness.js";

const open: Harness[] = [];
async function newHarness(): Promise<Harness> {
  const h = await harness();
  open.push(h);
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup();
});

beforeAll(() => {
  if (!isBuilt("mkroot")) throw new Error("packages/mkroot is not built: run `npx tsc -b` in packages/mkroot (or `pnpm build`) first");
});

const mkroot = (h: Harness, ...args: string[]) => h.tool("mkroot", ...args);
/** A shell line with the harness's PATH (mkroot from this checkout) and BOX_ROOT. */
const sh = (h: Harness, line: string) => h.run(["sh", "-c", line]);

function expectTrue(cond: boolean, r: RunResult, what: string): void {
  if (!cond) throw new Error(`${what}\n${formatResult(r)}`);
}

/** The store holds nothing: no staging, layer, blob or index entry. */
function expectStoreEmpty(h: Harness): void {
  const root = h.root;
  for (const d of ["tmp", "layers", join("images", "blobs", "sha256")]) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, d));
    } catch {
      // never created: empty too
    }
    expect(names, `${d} should be empty`).toEqual([]);
  }
}

describe("mkroot", () => {
  it("--help prints usage on stdout and exits 0, for every verb", async () => {
    const h = await newHarness();
    for (const argv of [["--help"], ["-h"], ["import", "--help"], ["layers", "--help"], ["images", "--help"], ["inspect", "--help"], ["rm", "--help"]]) {
      const r = expectOk(await mkroot(h, ...argv));
      expectTrue(r.stdout.startsWith("Usage:\n mkroot [--root DIR] import"), r, "usage on stdout");
      expectTrue(r.stdout.includes("Exit status:") && r.stderr === "", r, "whole help, nothing on stderr");
    }
  });

  it("misuse prints one line and the hint, exit 2", async () => {
    const h = await newHarness();
    for (const [argv, line] of [
      [[], "mkroot: missing command"],
      [["frob"], "mkroot: unknown command 'frob'"],
      [["images", "--bogus"], "mkroot: unknown option '--bogus'"],
      [["import"], "mkroot: import: missing NAME"],
      [["import", "Bad"], 'mkroot: invalid reference "Bad": repository name must be lowercase'],
      [["import", "--change", "RUN true", "x"], 'mkroot: --change "RUN true": RUN is not a valid change instruction'],
      [["layers"], "mkroot: layers: missing IMAGE"],
    ] as Array<[string[], string]>) {
      const r = expectCode(await mkroot(h, ...argv), 2);
      expectTrue(r.stdout === "", r, "nothing on stdout");
      const lines = r.stderr.split("\n");
      expectTrue(lines.length === 3 && (lines[0] ?? "").startsWith(line) && lines[1] === "Try 'mkroot --help' for more information.", r, `one line "${line}..." and the hint`);
    }
    expectStoreEmpty(h);
  });

  it("imports busybox and serves layers, images, inspect and rm", async () => {
    const h = await newHarness();
    const tar = await busyboxTar();
    const imp = expectOk(await mkroot(h, "import", "--change", 'CMD ["sh"]', "--change", "ENV PATH=/bin", "busybox", tar));
    const id = imp.stdout.trim();
    expectTrue(/^sha256:[a-f0-9]{64}$/.test(id) && imp.stderr === "", imp, "the image id on stdout, nothing on stderr");

    const layers = expectOk(await mkroot(h, "layers", "busybox"));
    const dirs = layers.stdout.split("\n").filter(Boolean);
    expectTrue(dirs.length === 1 && (dirs[0] ?? "").startsWith(join(h.root, "layers") + "/"), layers, "one layer dir under $BOX_ROOT/layers");
    const layer = dirs[0] as string;
    expect(statSync(join(layer, "bin/busybox")).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(layer, "bin/sh"))).toBe("busybox");
    expect(lstatSync(join(layer, "home/app")).uid).toBe(1000);
    expect(statSync(join(layer, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(readFileSync(join(layer, "etc/passwd"), "utf8")).toMatch(/^root:x:0:0:/);

    const images = expectOk(await mkroot(h, "images"));
    const rows = images.stdout.split("\n").filter(Boolean);
    expectTrue(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/.test(rows[0] ?? ""), images, "docker-like header");
    expectTrue(new RegExp(`^busybox +latest +${id.slice(7, 19)} +.+ ago +[0-9.]+[kM]B$`).test(rows[1] ?? ""), images, "one busybox row");
    expect(expectOk(await mkroot(h, "images", "-q")).stdout).toBe(`${id.slice(7, 19)}\n`);
    const json = JSON.parse(expectOk(await mkroot(h, "images", "--json")).stdout) as Array<{ id: string; names: string[]; size: number }>;
    expect(json).toEqual([expect.objectContaining({ id, names: ["busybox:latest"] })]);

    for (const ref of ["busybox", "busybox:latest", id, id.slice(7, 11)]) {
      const ins = expectOk(await mkroot(h, "inspect", ref));
      const doc = JSON.parse(ins.stdout) as { id: string; names: string[]; layers: string[]; config: { config: unknown; rootfs: { diff_ids: string[] } } };
      expect(doc.id).toBe(id);
      expect(doc.names).toEqual(["busybox:latest"]);
      expect(doc.layers).toEqual(dirs);
      expect(doc.config.config).toEqual({ Env: ["PATH=/bin"], Cmd: ["sh"] });
      expect(doc.config.rootfs.diff_ids).toHaveLength(1);
    }

    const rm = expectOk(await mkroot(h, "rm", "busybox"));
    expect(rm.stdout).toMatch(new RegExp(`^Untagged: busybox:latest\nDeleted: ${id}\nDeleted: sha256:[a-f0-9]{64}\n$`));
    const gone = expectCode(await mkroot(h, "layers", "busybox"), 1);
    expect(gone.stderr).toBe("mkroot: No such image: busybox\n");
    expect(gone.stdout).toBe("");
    expectStoreEmpty(h);
  });

  it("reads stdin (plain and gzip) and honours --root over $BOX_ROOT", async () => {
    const h = await newHarness();
    const tar = await busyboxTar();
    const other = join(h.root, "elsewhere");
    const a = expectOk(await sh(h, `mkroot import bb:plain < '${tar}'`));
    const b = expectOk(await sh(h, `gzip -c '${tar}' | mkroot --root '${other}' import bb:gz -`));
    expect(a.stdout.trim()).toMatch(/^sha256:/);
    expect(b.stdout.trim()).toMatch(/^sha256:/);
    // Same tar: the same diff_id, whatever the compression.
    const la = expectOk(await mkroot(h, "layers", "bb:plain")).stdout;
    const lb = expectOk(await mkroot(h, "--root", other, "layers", "bb:gz")).stdout;
    expect(la.replace(h.root, "")).toBe(lb.replace(other, ""));
    expectCode(await mkroot(h, "layers", "bb:gz"), 1);
    expect(expectOk(await sh(h, "mkroot images -q | xargs mkroot rm")).stdout).toMatch(/^Untagged: bb:plain\n/);
  });

  it("fails cleanly on bad input, naming the problem, and leaves the store empty", async () => {
    const h = await newHarness();
    const tar = readFileSync(await busyboxTar());
    const garbage = join(h.root, "..", "garbage");
    writeFileSync(garbage, Buffer.alloc(4096, 0x41));
    const truncated = join(h.root, "..", "truncated.tar");
    writeFileSync(truncated, tar.subarray(0, Math.floor(tar.length / 2)));
    for (const [file, message] of [
      [garbage, /^mkroot: import bad:latest: not a tar archive: invalid tar header/],
      [truncated, /^mkroot: import bad:latest: entry "[^"]+": unexpected end of data: the tar is truncated$/],
      ["/nonexistent.tar", /^mkroot: open \/nonexistent.tar: ENOENT \(no such file or directory\)$/],
    ] as Array<[string, RegExp]>) {
      const r = expectCode(await mkroot(h, "import", "bad", file), 1);
      expectTrue(r.stdout === "" && r.stderr.split("\n").length === 2 && message.test(r.stderr.trim()), r, `one line matching ${message}`);
    }
    const z = expectCode(await sh(h, `zstd -qc '${await busyboxTar()}' | mkroot import bad`), 1);
    expectTrue(/zstd-compressed input is not supported/.test(z.stderr), z, "zstd refused by name");
    expectStoreEmpty(h);
  });

  it("gives layer dirs that overlayfs takes as lower dirs, whiteouts and opaque dirs included", async () => {
    const h = await newHarness();
    expectOk(await mkroot(h, "import", "busybox", await busyboxTar()));
    // A second layer, as an OCI tar would carry it: delete /etc/passwd, replace /home wholesale.
    const src = join(h.root, "..", "top");
    mkdirSync(join(src, "etc"), { recursive: true });
    mkdirSync(join(src, "home"), { recursive: true });
    writeFileSync(join(src, "etc", ".wh.passwd"), "");
    writeFileSync(join(src, "home", ".wh..wh..opq"), "");
    writeFileSync(join(src, "home", "new"), "new\n");
    const topTar = join(h.root, "..", "top.tar");
    expectOk(await h.run(["tar", "-C", src, "-cf", topTar, "."]));
    expectOk(await mkroot(h, "import", "top", topTar));

    const ovl = join(h.root, "..", "ovl");
    for (const d of ["upper", "work", "merged"]) mkdirSync(join(ovl, d), { recursive: true });
    const merged = join(ovl, "merged");
    const mount = await sh(
      h,
      `mount -t overlay overlay -o "lowerdir=$(mkroot layers top):$(mkroot layers busybox),upperdir=${ovl}/upper,workdir=${ovl}/work" ${merged}`,
    );
    if (mount.code !== 0 && /unknown filesystem type/.test(mount.stderr)) {
      console.warn("skipped: this kernel has no overlayfs");
      return;
    }
    expectOk(mount, "mount the layers");
    try {
      const r = expectOk(await h.run(["chroot", merged, "/bin/sh", "-c", "ls /etc; ls /home; cat /home/new"]));
      expect(r.stdout).toBe("group\nnew\nnew\n");
    } finally {
      expectOk(await h.run(["umount", merged]));
    }
  });

  it("takes four concurrent imports of the same tar and keeps one consistent image", async () => {
    const h = await newHarness();
    const tar = await busyboxTar();
    const results = await Promise.all([1, 2, 3, 4].map(() => mkroot(h, "import", "--change", 'CMD ["sh"]', "conc", tar)));
    for (const r of results) expectOk(r, "concurrent import");
    const ids = new Set(results.map((r) => r.stdout.trim()));
    expectTrue(ids.size === 1, results[0] as RunResult, `one image id, got ${[...ids].join(" ")}`);
    const images = expectOk(await mkroot(h, "images", "--json"));
    expect((JSON.parse(images.stdout) as unknown[]).length).toBe(1);
    expect(readdirSync(join(h.root, "layers")).filter((n) => !n.endsWith(".json"))).toHaveLength(1);
    expect(readdirSync(join(h.root, "images", "blobs", "sha256"))).toHaveLength(3);
    expect(readdirSync(join(h.root, "tmp"))).toEqual([]);
    const layer = expectOk(await mkroot(h, "layers", "conc")).stdout.trim();
    expect(statSync(join(layer, "bin", "busybox")).size).toBeGreaterThan(100_000);
  });
});
