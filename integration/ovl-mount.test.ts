import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mountsUnder } from "../packages/ovl-mount/src/mountinfo.js";
import { cleanup, mountSkipReason, tempDir } from "../packages/ovl-mount/src/testutil/fixture.js";
import { readTar } from "../packages/ovl-mount/src/testutil/tar.js";
import { binPath, expectOk, harness, importBusybox, isBuilt } from "./lib/harness.js";

const BIN = binPath("ovl-mount");

interface Run {
  cmd: string;
  status: number | null;
  stdout: string;
  stdoutBuf: Buffer;
  stderr: string;
}

function ovl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(BIN, args, {
    input: opts.input ?? "",
    env: { ...process.env, OVL_MOUNT_API: "", SOURCE_DATE_EPOCH: "", ...opts.env },
    maxBuffer: 64 << 20,
  });
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v} `).join("");
  return {
    cmd: `${env}ovl-mount ${args.map((a) => JSON.stringify(a)).join(" ")}${opts.input ? ` <<< ${JSON.stringify(opts.input.slice(0, 300))}` : ""}`,
    status: r.status,
    stdoutBuf: r.stdout,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
  };
}

/** What a failing assertion prints: the command, its status and its output. */
function show(r: Run): string {
  return `$ ${r.cmd}\nexit status: ${r.status}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`;
}

function ok(r: Run): Run {
  expect(r.status, show(r)).toBe(0);
  return r;
}

function usage(r: Run, message: RegExp): void {
  expect(r.status, show(r)).toBe(2);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, show(r)).toHaveLength(2);
  expect(lines[0], show(r)).toMatch(message);
  expect(lines[1], show(r)).toBe("Try 'ovl-mount --help' for more information.");
  expect(r.stdout, show(r)).toBe("");
}

function fails(r: Run, message: string | RegExp): void {
  expect(r.status, show(r)).toBe(1);
  if (typeof message === "string") expect(r.stderr, show(r)).toBe(message + "\n");
  else expect(r.stderr, show(r)).toMatch(message);
  expect(r.stdout, show(r)).toBe("");
}

describe("ovl-mount without root", () => {
  it("--help prints the usage on stdout and exits 0", () => {
    const r = ok(ovl(["--help"]));
    expect(r.stdout, show(r)).toMatch(/^Usage:\n ovl-mount \[--upper DIR --work DIR\] \[--ro\] \[--idmap USERNS\] --target DIR LOWER\.\.\./);
    expect(r.stdout, show(r)).toContain("--diff UPPER");
    expect(r.stderr, show(r)).toBe("");
    expect(ok(ovl(["-h"])).stdout).toBe(r.stdout);
  });

  it("rejects misuse with one line and exit status 2", () => {
    usage(ovl(["--bogus"]), /^ovl-mount: unknown option '--bogus'$/);
    usage(ovl([]), /^ovl-mount: missing --target$/);
    usage(ovl(["--target", "/m"]), /^ovl-mount: missing LOWER directory$/);
    usage(ovl(["--target", "/m", "--upper", "/u", "/l"]), /^ovl-mount: an upper directory needs a work directory$/);
    usage(ovl(["--target", "/m", "--work", "/w", "/l"]), /^ovl-mount: a work directory is only used with an upper directory$/);
    usage(ovl(["--target", "/m", "--upper", "/c/u", "--work", "/c/u/w", "/l"]), /must be separate directories/);
    usage(ovl(["--target", "/m", "-"], { input: "" }), /^ovl-mount: no LOWER directory on stdin$/);
    usage(ovl(["--target", "/m", "-", "-"], { input: "/a\n" }), /given twice/);
    usage(ovl(["--umount", "/m", "--diff", "/u"]), /^ovl-mount: --umount and --diff cannot be used together$/);
    usage(ovl(["--umount", "/m", "/extra"]), /^ovl-mount: unexpected argument '\/extra'$/);
    usage(ovl(["--umount", "/m", "--ro"]), /^ovl-mount: --ro cannot be used with --umount$/);
    usage(ovl(["--target", "/m", "--mtime", "5", "/l"]), /^ovl-mount: --mtime needs --diff$/);
    usage(ovl(["--diff", "/u", "--mtime", "yesterday"]), /^ovl-mount: --mtime 'yesterday': not a whole number of seconds$/);
    usage(ovl(["--spec", "-"], { input: "{not json" }), /^ovl-mount: --spec stdin: not JSON/);
    usage(ovl(["--spec", "-"], { input: '{"lower":["/a"],"target":"rel"}' }), /^ovl-mount: target 'rel': must be an absolute path$/);
    usage(ovl(["--spec", "-"], { input: '{"lower":[],"target":"/m"}' }), /^ovl-mount: no lower directory given$/);
    usage(ovl(["--spec", "-"], { input: '{"lower":["/a"],"target":"/m","uper":"/u"}' }), /unknown key 'uper'/);
    usage(ovl(["--target", "/m", "/l"], { env: { OVL_MOUNT_API: "old" } }), /OVL_MOUNT_API='old'/);
  });
});

describe("ovl-mount --diff to a terminal", () => {
  const hasScript = spawnSync("script", ["--version"]).status === 0;
  if (!hasScript) console.warn("terminal test skipped: no script(1) to give stdout a pty");
  it.skipIf(!hasScript)("refuses, with exit status 2", () => {
    // script(1) runs the command with a pseudo-terminal as its stdout.
    const r = spawnSync("script", ["-qec", `${BIN} --diff /`, "/dev/null"]);
    const out = r.stdout.toString();
    expect(r.status, out).toBe(2);
    expect(out).toMatch(/^ovl-mount: refusing to write a tar archive to a terminal; redirect stdout\r?\n/);
  });
});

const skip = mountSkipReason();
if (skip) console.warn(`ovl-mount integration tests skipped: ${skip}`);

describe.skipIf(skip)("ovl-mount as root", () => {
  let dir: string;
  let d: Record<"top" | "bottom" | "upper" | "work" | "merged", string>;
  beforeEach(() => {
    dir = tempDir("cli");
    d = {} as typeof d;
    for (const n of ["top", "bottom", "upper", "work", "merged"] as const) {
      d[n] = path.join(dir, n);
      fs.mkdirSync(d[n]);
    }
    fs.writeFileSync(path.join(d.top, "same"), "top");
    fs.writeFileSync(path.join(d.bottom, "same"), "bottom");
    fs.writeFileSync(path.join(d.bottom, "gone"), "g");
  });
  afterEach(() => {
    const left = cleanup(dir);
    expect(left, `still mounted under ${dir}`).toEqual([]);
  });

  it("mounts, prints the target, and unmounts", () => {
    const r = ok(ovl(["--upper", d.upper, "--work", d.work, "--target", d.merged, d.top, d.bottom]));
    expect(r.stdout).toBe(d.merged + "\n");
    expect(r.stderr, show(r)).toBe("");
    expect(mountsUnder(d.merged).map((m) => m.fstype)).toEqual(["overlay"]);
    expect(fs.readFileSync(path.join(d.merged, "same"), "utf8")).toBe("top");
    fs.writeFileSync(path.join(d.merged, "new"), "n");
    expect(fs.existsSync(path.join(d.upper, "new"))).toBe(true);
    const u = ok(ovl(["--umount", d.merged]));
    expect(u.stdout + u.stderr).toBe("");
    expect(mountsUnder(d.merged)).toEqual([]);
  });

  it("--idmap shows the layers' files through a user namespace's maps, and the upper keeps host ids", () => {
    // A user namespace that only holds maps, as box makes one for --userns-remap.
    const holder = spawn("unshare", ["--user", "sleep", "60"], { stdio: "ignore" });
    try {
      const ns = `/proc/${holder.pid}/ns/user`;
      for (let i = 0; i < 100 && fs.readlinkSync(ns) === fs.readlinkSync("/proc/self/ns/user"); i++) spawnSync("sleep", ["0.02"]);
      fs.writeFileSync(`/proc/${holder.pid}/uid_map`, "0 200000 65536\n");
      fs.writeFileSync(`/proc/${holder.pid}/gid_map`, "0 300000 65536\n");
      fs.chownSync(path.join(d.bottom, "gone"), 7, 8);
      // Layers by fd (Linux 6.15), and the attached clones older kernels get (forced with legacy).
      for (const env of [{}, { OVL_MOUNT_API: "legacy" }]) {
        ok(ovl(["--idmap", ns, "--upper", d.upper, "--work", d.work, "--target", d.merged, d.top, d.bottom], { env }));
        try {
          const st = fs.statSync(path.join(d.merged, "gone"));
          expect([st.uid, st.gid]).toEqual([200007, 300008]);
          fs.writeFileSync(path.join(d.merged, "new"), "n");
          expect(fs.statSync(path.join(d.upper, "new")).uid).toBe(0);
          // Only the overlay: no clone is left attached anywhere.
          const points = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "");
          expect(points.filter((p) => p.includes("ovl-idmap-"))).toEqual([]);
        } finally {
          ok(ovl(["--umount", d.merged]));
          fs.rmSync(path.join(d.upper, "new"), { force: true });
        }
      }
      // The layers themselves are untouched.
      expect(fs.statSync(path.join(d.bottom, "gone")).uid).toBe(7);
      fails(ovl(["--idmap", "/nonexistent", "--target", d.merged, d.top, d.bottom]), /stat \/nonexistent: ENOENT/);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("takes relative paths from the cwd and --ro", () => {
    const r = spawnSync(BIN, ["--ro", "--upper", "upper", "--work", "work", "--target", "merged", "top", "bottom"], { cwd: dir });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toBe(d.merged + "\n");
    const w = spawnSync("sh", ["-c", `echo x > ${d.merged}/x`]);
    expect(w.stderr.toString()).toMatch(/Read-only file system/);
    ok(ovl(["--umount", d.merged]));
  });

  it("reads lowers from stdin, as from `mkroot layers IMAGE |`, 150 of them through the legacy API", () => {
    const lowers: string[] = [];
    for (let i = 0; i < 150; i++) {
      const l = path.join(dir, "layers", `sha256-${i.toString().padStart(3, "0")}${"e3b0c44298fc1c14".repeat(4)}`);
      fs.mkdirSync(l, { recursive: true });
      fs.writeFileSync(path.join(l, `f${i}`), "");
      lowers.push(l);
    }
    for (const api of ["auto", "legacy"]) {
      const r = ok(
        ovl(["--target", d.merged, "--upper", d.upper, "--work", d.work, "-"], {
          input: lowers.join("\n") + "\n",
          env: { OVL_MOUNT_API: api },
        }),
      );
      expect(r.stdout).toBe(d.merged + "\n");
      expect(fs.readdirSync(d.merged).length).toBe(150);
      expect(mountsUnder(d.merged)[0]?.superOptions).toMatch(api === "legacy" ? /lowerdir=0:1:/ : /lowerdir\+=/);
      ok(ovl(["--umount", d.merged]));
    }
  });

  it("mounts from a --spec on stdin", () => {
    const spec = { lower: [d.top, d.bottom], upper: d.upper, work: d.work, target: d.merged };
    const r = ok(ovl(["--spec", "-"], { input: JSON.stringify(spec) }));
    expect(r.stdout).toBe(d.merged + "\n");
    expect(fs.readFileSync(path.join(d.merged, "same"), "utf8")).toBe("top");
    ok(ovl(["--umount", d.merged]));
  });

  it("fails with exit status 1 and nothing mounted when the kernel or the disk says no", () => {
    const nope = path.join(dir, "nope");
    fails(
      ovl(["--target", d.merged, d.top, nope]),
      `ovl-mount: mount ${d.merged}: stat ${nope}: ENOENT (no such file or directory)`,
    );
    fails(ovl(["--umount", d.merged]), `ovl-mount: umount ${d.merged}: not a mount point`);
    fails(ovl(["--diff", nope]), `ovl-mount: stat ${nope}: ENOENT (no such file or directory)`);
    expect(mountsUnder(dir)).toEqual([]);
  });

  it("--diff writes the upper as a layer tar, the same bytes each time", () => {
    ok(ovl(["--upper", d.upper, "--work", d.work, "--target", d.merged, d.top, d.bottom]));
    fs.rmSync(path.join(d.merged, "gone"));
    fs.writeFileSync(path.join(d.merged, "same"), "changed");
    ok(ovl(["--umount", d.merged]));

    const a = ok(ovl(["--diff", d.upper, "--mtime", "1700000000"]));
    const b = ok(ovl(["--diff", d.upper], { env: { SOURCE_DATE_EPOCH: "1700000000" } }));
    expect(a.stderr, show(a)).toBe("");
    expect(Buffer.compare(a.stdoutBuf, b.stdoutBuf), "--mtime and SOURCE_DATE_EPOCH give the same bytes").toBe(0);
    const entries = readTar(a.stdoutBuf);
    expect(entries.map((e) => `${e.type} ${e.name}`)).toEqual(["file .wh.gone", "file same"]);
    expect(entries.every((e) => e.mtime <= 1700000000)).toBe(true);
    const t = spawnSync("tar", ["-tf", "-"], { input: a.stdoutBuf });
    expect(t.stdout.toString()).toBe(".wh.gone\nsame\n");
  });
});

describe.skipIf(skip)("ovl-mount in a pipeline with mkroot", () => {
  const built = isBuilt("mkroot");
  if (!built) console.warn("mkroot pipeline test skipped: packages/mkroot is not built");
  it.skipIf(!built)("mounts `mkroot layers busybox | xargs ovl-mount ...` and leaves nothing behind", async () => {
    const h = await harness();
    try {
      await importBusybox(h);
      const c = path.join(h.root, "c1");
      const sh = (script: string) => h.run(["sh", "-c", script], { cwd: h.root });
      expectOk(await sh("mkdir -p c1/upper c1/work c1/rootfs"));
      const r = expectOk(
        await sh("mkroot layers busybox | xargs ovl-mount --upper c1/upper --work c1/work --target c1/rootfs"),
      );
      expect(r.stdout).toBe(`${c}/rootfs\n`);
      try {
        expect(fs.existsSync(path.join(c, "rootfs/bin/busybox"))).toBe(true);
        expectOk(await sh("rm c1/rootfs/bin/busybox && echo hi > c1/rootfs/root/hello"));
      } finally {
        expectOk(await h.tool("ovl-mount", "--umount", `${c}/rootfs`));
      }
      // spawnSync, not h.run: the tar is bytes, and h.run decodes stdout as UTF-8.
      const diff = spawnSync(BIN, ["--diff", `${c}/upper`, "--mtime", "0"], { env: h.env });
      expect(diff.status, diff.stderr.toString()).toBe(0);
      const t = spawnSync("tar", ["-tf", "-"], { input: diff.stdout });
      expect(t.stdout.toString()).toBe("bin/\nbin/.wh.busybox\nroot/\nroot/hello\n");
    } finally {
      // Throws if a mount (or anything else) under the harness' dirs was left.
      await h.cleanup();
    }
  });
});
