// Tests of the integration harness itself: that it isolates each test, reports failures fully, and
// that leaks() finds (and cleanup() removes, then reports) what a careless test leaves behind.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { busyboxTar, expectOk, harness, importBusybox, isBuilt, leaks, repoRoot, type Harness } from "./lib/harness.js";

const busyboxSh = join(repoRoot, "integration", "images", "busybox.sh");

const open: Harness[] = [];
async function newHarness(): Promise<Harness> {
  const h = await harness();
  open.push(h);
  return h;
}
// A test that fails half-way must still not leave its mounts and processes behind.
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup().catch(() => {});
});

function mountedAt(target: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === target);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("harness", () => {
  it("makes a private BOX_ROOT and BOX_RUN and removes them on cleanup", async () => {
    const h = await newHarness();
    expect(h.root.startsWith(join(tmpdir(), "boxtest-"))).toBe(true);
    expect(h.env.BOX_ROOT).toBe(h.root);
    expect(h.env.BOX_RUN).toBe(h.runDir);
    expect(statSync(h.root).isDirectory()).toBe(true);
    expect(leaks(h)).toEqual([]);
    const r = expectOk(await h.run(["sh", "-c", 'echo "$BOX_ROOT $BOX_RUN"']));
    expect(r.stdout).toBe(`${h.root} ${h.runDir}\n`);
    await h.cleanup();
    expect(existsSync(h.root)).toBe(false);
    expect(existsSync(h.runDir)).toBe(false);
  });

  it("runs commands with input, environment overrides and a timeout", async () => {
    const h = await newHarness();
    const r = await h.run(["sh", "-c", 'cat; echo "${FOO-unset}" >&2; exit 3'], { input: "in\n", env: { FOO: "bar" } });
    expect(r).toMatchObject({ code: 3, signal: null, stdout: "in\n", stderr: "bar\n", timedOut: false });
    const unset = await h.run(["sh", "-c", 'echo "${BOX_ROOT-unset}"'], { env: { BOX_ROOT: undefined } });
    expect(unset.stdout).toBe("unset\n");
    const slow = await h.run(["sleep", "10"], { timeoutMs: 200 });
    expect(slow).toMatchObject({ code: null, signal: "SIGKILL", timedOut: true });
    await h.cleanup();
  });

  it("expectOk names the command, its status, stdout and stderr", async () => {
    const h = await newHarness();
    const r = await h.run(["sh", "-c", "echo to-out; echo to-err >&2; exit 7"]);
    expect(() => expectOk(r)).toThrow(/command: sh -c 'echo to-out; echo to-err >&2; exit 7'\nexit status 7\nstdout:\n {2}\| to-out\nstderr:\n {2}\| to-err/);
    await h.cleanup();
  });

  it("finds a mount under BOX_ROOT, and cleanup unmounts it and fails loudly", async () => {
    const h = await newHarness();
    const target = join(h.root, "leaked-mount");
    mkdirSync(target);
    expectOk(await h.run(["mount", "-t", "tmpfs", "boxtest-tmpfs", target]));
    writeFileSync(join(target, "file"), "x");
    expect(leaks(h)).toContainEqual(expect.objectContaining({ kind: "mount", what: target }));
    await expect(h.cleanup()).rejects.toThrow(`mount ${target}`);
    expect(mountedAt(target)).toBe(false);
    expect(existsSync(h.root)).toBe(false);
    expect(leaks(h)).toEqual([]);
  });

  it("finds processes by cwd, environment, root and ancestry, and cleanup kills them", async () => {
    const h = await newHarness();
    const byCwd = spawn("sleep", ["600"], { cwd: h.root, stdio: "ignore", detached: true });
    // The parent is found by its environment; its child has neither that environment nor a cwd
    // under h's dirs, so only ancestry finds it.
    const byEnv = spawn("sh", ["-c", "cd / && env -i /bin/sleep 601; true"], { env: h.env, cwd: "/", stdio: "ignore", detached: true });
    // A process chrooted in its own namespaces, as a container's would be.
    const rootfs = join(h.root, "rootfs");
    mkdirSync(rootfs);
    expectOk(await h.run(["tar", "-xf", await busyboxTar(), "-C", rootfs]));
    const jailed = spawn("unshare", ["--pid", "--fork", "--mount", "chroot", rootfs, "/bin/sleep", "602"], {
      cwd: "/",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdio: "ignore",
      detached: true,
    });
    for (const c of [byCwd, byEnv, jailed]) c.unref();
    const pids = [byCwd.pid!, byEnv.pid!, jailed.pid!];
    const leaked = (cmd: string) => leaks(h).find((l) => l.kind === "process" && l.detail.endsWith(`: ${cmd}`));
    await waitFor(() => leaked("/bin/sleep 601") !== undefined && leaked("/bin/sleep 602") !== undefined);

    expect(leaked("sleep 600")?.detail).toMatch(/^cwd /);
    expect(leaked("sh -c cd / && env -i /bin/sleep 601; true")?.detail).toMatch(/^environment/);
    expect(leaked("/bin/sleep 601")?.detail).toBe(`child of ${byEnv.pid}: /bin/sleep 601`);
    expect(leaked("/bin/sleep 602")?.detail).toMatch(/^(root |child of )/);
    const all = leaks(h).filter((l) => l.kind === "process").map((l) => Number(l.what));
    await expect(h.cleanup()).rejects.toThrow(/the test leaked:[\s\S]*process/);
    await waitFor(() => ![...pids, ...all].some(alive));
    expect(leaks(h)).toEqual([]);
  });

  it("finds container state left in BOX_RUN/containers and BOX_ROOT/containers", async () => {
    const h = await newHarness();
    mkdirSync(join(h.runDir, "containers", "c0ffee00"), { recursive: true });
    mkdirSync(join(h.root, "containers", "c0ffee01"), { recursive: true });
    expect(leaks(h).filter((l) => l.kind === "state").map((l) => l.what)).toEqual([
      join(h.runDir, "containers", "c0ffee00"),
      join(h.root, "containers", "c0ffee01"),
    ]);
    await expect(h.cleanup()).rejects.toThrow("c0ffee00");
    expect(existsSync(h.root)).toBe(false);
  });
});

describe("busybox image", () => {
  it("busybox.sh builds the same tar twice, with the users, modes and applets the tests expect", async () => {
    const h = await newHarness();
    const a = join(h.root, "a.tar");
    const b = join(h.root, "b.tar");
    expectOk(await h.run([busyboxSh, a]));
    expectOk(await h.run([busyboxSh, b]));
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);

    const listing = expectOk(await h.run(["tar", "-tvf", a, "--numeric-owner"])).stdout.split("\n");
    const entry = (name: string) => listing.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `));
    expect(entry("bin/busybox")).toMatch(/^-rwxr-xr-x 0\/0 /);
    for (const applet of ["sh", "ls", "ps", "hostname", "httpd", "id", "cat", "true"]) {
      expect(entry(`bin/${applet}`)).toMatch(/^lrwxrwxrwx 0\/0 .* -> busybox$/);
    }
    expect(entry("tmp/")).toMatch(/^drwxrwxrwt 0\/0 /);
    expect(entry("home/app/")).toMatch(/^drwxr-xr-x 1000\/1000 /);
    expect(entry("root/")).toMatch(/^drwx------ 0\/0 /);
    for (const d of ["proc/", "sys/", "dev/", "var/"]) expect(entry(d)).toMatch(/^d.* 0\/0 /);
    expect(entry("etc/hostname")).toBeUndefined();
    expect(listing.filter((l) => l !== "").every((l) => l.includes(" 1970-01-01 00:00 "))).toBe(true);

    const passwd = expectOk(await h.run(["tar", "-xOf", a, "etc/passwd"])).stdout;
    expect(passwd).toContain("root:x:0:0:");
    expect(passwd).toContain("app:x:1000:1000:app:/home/app:");
    expect(passwd).toContain("nobody:x:65534:65534:");
    const group = expectOk(await h.run(["tar", "-xOf", a, "etc/group"])).stdout;
    expect(group).toContain("staff:x:50:app\n");
    expect(group).toContain("nogroup:x:65534:");
    await h.cleanup();
  });

  it("busybox.sh fails clearly when the busybox binary is missing", async () => {
    const h = await newHarness();
    const r = await h.run([busyboxSh, join(h.root, "x.tar")], {
      env: { BUSYBOX: "/nonexistent/busybox" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/busybox is missing");
    await h.cleanup();
  });

  const mkrootBuilt = isBuilt("mkroot");
  it.skipIf(!mkrootBuilt)(
    `importBusybox imports busybox:latest${mkrootBuilt ? "" : " (skipped: packages/mkroot/dist/bin.js does not exist yet; build mkroot)"}`,
    async () => {
      const h = await newHarness();
      const id = await importBusybox(h);
      expect(id).toMatch(/\S/);
      const layers = expectOk(await h.tool("mkroot", "layers", "busybox:latest")).stdout.trim().split("\n");
      expect(layers.length).toBeGreaterThan(0);
      expect(layers.some((d) => existsSync(join(d, "bin", "busybox")))).toBe(true);
      expectOk(await h.tool("mkroot", "rm", "busybox:latest"));
      await h.cleanup();
    },
  );
});
