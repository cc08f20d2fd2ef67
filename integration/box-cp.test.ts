// box cp and box export end to end: files and directories both ways, for running and stopped
// containers, tar streams on stdin and stdout, Docker's errors, and nothing left behind.
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, harness, importBusybox, leaks, type Harness } from "./lib/harness.js";

let h: Harness;
let host: string;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
  host = mkdtempSync(join(tmpdir(), "box-cp-"));
}, 120_000);

afterAll(async () => {
  rmSync(host, { recursive: true, force: true });
  await h?.cleanup();
});

function expectClean(): void {
  expect(formatLeaks(leaks(h))).toBe("");
}

async function runD(...args: string[]): Promise<string> {
  return expectOk(await h.box("run", "-d", ...args)).stdout.trim();
}

/** A container with /data/a.txt and /data/sub/b.txt, running or stopped, removed after fn. */
async function withFixture(running: boolean, fn: (id: string) => Promise<void>): Promise<void> {
  const setup = "mkdir -p /data/sub && echo alpha > /data/a.txt && echo beta > /data/sub/b.txt && ln -s a.txt /data/link";
  const id = await runD("busybox", "sh", "-c", running ? `${setup} && exec sleep 300` : setup);
  try {
    if (!running) expectOk(await h.box("wait", id));
    await fn(id);
  } finally {
    expectOk(await h.box("rm", "-f", id));
  }
  expectClean();
}

/** `tar -tv` of `box cp ID:PATH -`: "uid/gid name" per entry, sorted. */
async function listing(id: string, path: string): Promise<string[]> {
  const r = expectOk(await h.run(["sh", "-c", `box cp ${id}:${path} - | tar --numeric-owner -tvf -`], { env: h.env }));
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const f = l.split(/\s+/);
      return `${f[1]} ${f[5]}`;
    })
    .sort();
}

describe.each([
  ["running", true],
  ["stopped", false],
])("box cp, %s container", (_label, running) => {
  it("copies a file and a directory out, following Docker's directory rules", async () => {
    await withFixture(running, async (id) => {
      const out = join(host, `out-${running}`);
      mkdirSync(out);
      expectOk(await h.box("cp", `${id}:/data/a.txt`, join(out, "copy.txt")));
      expect(readFileSync(join(out, "copy.txt"), "utf8")).toBe("alpha\n");
      // Into an existing directory: under its own name.
      expectOk(await h.box("cp", `${id}:/data`, out));
      expect(readFileSync(join(out, "data", "sub", "b.txt"), "utf8")).toBe("beta\n");
      expect(readlinkSync(join(out, "data", "link"))).toBe("a.txt");
      // To a new path: becomes that path; with /. only the contents.
      expectOk(await h.box("cp", `${id}:/data/sub`, join(out, "renamed")));
      expect(readdirSync(join(out, "renamed"))).toEqual(["b.txt"]);
      mkdirSync(join(out, "contents"));
      expectOk(await h.box("cp", `${id}:/data/.`, join(out, "contents")));
      expect(readdirSync(join(out, "contents")).sort()).toEqual(["a.txt", "link", "sub"]);
    });
  });

  it("copies a file and a directory in, root-owned unless -a", async () => {
    await withFixture(running, async (id) => {
      const src = join(host, `in-${running}`);
      mkdirSync(join(src, "tree", "deep"), { recursive: true });
      writeFileSync(join(src, "f.txt"), "from host\n", { mode: 0o640 });
      writeFileSync(join(src, "tree", "deep", "g.txt"), "deep\n");
      chownSync(join(src, "f.txt"), 1234, 5678);
      expectOk(await h.box("cp", join(src, "f.txt"), `${id}:/data/`));
      expectOk(await h.box("cp", "-a", join(src, "f.txt"), `${id}:/data/kept.txt`));
      expectOk(await h.box("cp", join(src, "tree"), `${id}:/data`));
      expectOk(await h.box("cp", join(src, "tree"), `${id}:/newtree`));
      const back = join(host, `in-back-${running}`);
      mkdirSync(back);
      for (const p of ["/data/f.txt", "/data/tree/deep/g.txt", "/newtree/deep/g.txt"]) expectOk(await h.box("cp", `${id}:${p}`, join(back, p.replaceAll("/", "_"))));
      expect(readFileSync(join(back, "_data_f.txt"), "utf8")).toBe("from host\n");
      expect(readFileSync(join(back, "_newtree_deep_g.txt"), "utf8")).toBe("deep\n");
      expect(readFileSync(join(back, "_data_tree_deep_g.txt"), "utf8")).toBe("deep\n");
      expect(await listing(id, "/data/f.txt")).toEqual(["0/0 f.txt"]);
      expect(await listing(id, "/data/kept.txt")).toEqual(["1234/5678 kept.txt"]);
      expect(await listing(id, "/newtree")).toContain("0/0 newtree/deep/g.txt");
    });
  });

  it("- streams a tar out of and into the container", async () => {
    await withFixture(running, async (id) => {
      const out = expectOk(await h.run(["sh", "-c", `box cp ${id}:/data - | tar -tf -`], { env: h.env }));
      expect(out.stdout.split("\n").filter(Boolean).sort()).toEqual(["data/", "data/a.txt", "data/link", "data/sub/", "data/sub/b.txt"]);
      const src = join(host, `tar-${running}`);
      mkdirSync(join(src, "t"), { recursive: true });
      writeFileSync(join(src, "t", "x.txt"), "tarred\n");
      expectOk(await h.run(["sh", "-c", `tar -C ${src} -cf - t | box cp - ${id}:/data`], { env: h.env }));
      const back = join(host, `tar-back-${running}`);
      mkdirSync(back);
      expectOk(await h.box("cp", `${id}:/data/t/x.txt`, back));
      expect(readFileSync(join(back, "x.txt"), "utf8")).toBe("tarred\n");
    });
  });
});

describe("box cp errors", () => {
  it("no such container, a missing path inside, bad syntax: one line and status 1", async () => {
    await withFixture(true, async (id) => {
      const cases: [string[], RegExp][] = [
        [["cp", "nosuchctr:/etc", host], /No such container: nosuchctr/],
        [["cp", `${id}:/nope`, host], /Could not find the file \/nope/],
        [["cp", join(host, "a"), join(host, "b")], /must specify at least one container source/],
        [["cp", `${id}:/data`, `${id}:/x`], /copying between containers is not supported/],
        [["cp", `${id}:/data`], /requires exactly 2 arguments/],
        [["cp", `${id}:/data/a.txt/`, host], /not a directory/],
      ];
      for (const [args, msg] of cases) {
        const r = expectCode(await h.box(...args), 1, args.join(" "));
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stdout).toBe("");
      }
    });
  });

  it("--help prints the usage", async () => {
    expect(expectOk(await h.box("cp", "--help")).stdout).toMatch(/^Usage: {2}box cp \[OPTIONS\] CONTAINER:SRC_PATH/);
    expect(expectOk(await h.box("export", "--help")).stdout).toMatch(/^Usage: {2}box export \[OPTIONS\] CONTAINER/);
  });
});

describe("box export", () => {
  it.each([
    ["running", true],
    ["stopped", false],
  ])("writes the %s container's whole filesystem as a tar, to stdout or -o", async (_l, running) => {
    await withFixture(running, async (id) => {
      const out = expectOk(await h.run(["sh", "-c", `box export ${id} | tar -tf -`], { env: h.env }));
      const names = out.stdout.split("\n");
      expect(names).toContain("data/a.txt");
      expect(names).toContain("data/sub/b.txt");
      expect(names).toContain("bin/busybox");
      // The container's own files, not what is mounted on them.
      expect(names.filter((n) => n.startsWith("proc/") && n !== "proc/")).toEqual([]);
      const file = join(host, `export-${running}.tar`);
      expectOk(await h.box("export", "-o", file, id));
      expect(statSync(file).size).toBeGreaterThan(10_000);
      const t = expectOk(await h.run(["tar", "-xOf", file, "data/a.txt"]));
      expect(t.stdout).toBe("alpha\n");
      const bad = expectCode(await h.box("export", "nosuchctr"), 1);
      expect(bad.stderr).toMatch(/No such container: nosuchctr/);
    });
  });
});
