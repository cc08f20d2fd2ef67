// cgset against the real kernel: limits that bite (OOM, fork bomb, CPU quota,
// cpuset, devices), freeze/thaw, kill, stats, and the refusals, on the host's
// own hierarchy (cgroup v1 on these machines) and on the v2 backend run
// against /sys/fs/cgroup/unified, a real cgroup2 mount without controllers.
// Every test's cgroups live below box/<harness id> and go in afterEach.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatResult, harness, isBuilt, type Harness, type RunResult } from "./lib/harness.js";
import { canLimit } from "./lib/cgroups.js";

const UNIFIED = "/sys/fs/cgroup/unified";
const isRoot = process.getuid?.() === 0;
const mounts = existsSync("/proc/self/mountinfo") ? readFileSync("/proc/self/mountinfo", "utf8") : "";
const hasV1Memory = / - cgroup cgroup \S*\bmemory\b/.test(mounts);
const hasV2 = / - cgroup2 /.test(mounts);
const hasUnified = mounts.split("\n").some((l) => l.split(" ")[4] === UNIFIED && l.includes(" - cgroup2 "));
const built = isBuilt("cgset");
const skipReason = !built ? "cgset is not built" : !isRoot ? "needs root" : !hasV1Memory && !hasV2 ? "no cgroup hierarchy" : "";

let h: Harness;
const kids: ChildProcess[] = [];
/** box/<harness id>/<name>: harness.leaks() finds what is left by the id. */
const P = (name: string) => `box/${h.id}/${name}`;
const cg = (...args: Array<string | { timeoutMs?: number }>) => h.tool("cgset", ...(args as string[]));
const v2 = (...args: string[]) => h.tool("cgset", "--cgroup2", UNIFIED, ...args);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** One line on stderr, a non-zero status, nothing on stdout. */
function oneLine(r: RunResult, status: number, message: string | RegExp): void {
  expect(r.code, formatResult(r)).toBe(status);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length, formatResult(r)).toBe(status === 2 ? 2 : 1);
  expect(lines[0], formatResult(r)).toMatch(typeof message === "string" ? new RegExp(`^cgset: ${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : message);
  expect(r.stdout, formatResult(r)).toBe("");
}

/** Directories below /sys/fs/cgroup whose path names this harness. */
function mine(): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 6) return;
    let names: string[] = [];
    try {
      names = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (p.includes(h.id)) out.push(p);
      walk(p, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return out;
}

/** The pids `cgset procs` lists; none while the cgroup does not exist yet. */
async function procsOf(run: (...a: string[]) => Promise<RunResult>, path: string): Promise<string[]> {
  const r = await run("procs", path);
  return r.code === 0 ? r.stdout.split("\n").filter(Boolean) : [];
}

function stats(r: RunResult) {
  return JSON.parse(expectOk(r).stdout) as {
    memory: { usage: number; maxUsage: number | null; limit: number | null; oomKills: number | null } | null;
    cpu: { usageNs: number } | null;
    pids: { current: number; limit: number | null } | null;
  };
}

/** CPU time of a cgroup in ns, read from its files (cpuacct.usage on v1, cpu.stat on v2). */
function usageNs(dirs: string[]): number {
  for (const d of dirs) {
    if (existsSync(join(d, "cpuacct.usage"))) return Number(readFileSync(join(d, "cpuacct.usage"), "utf8"));
  }
  for (const d of dirs) {
    const m = /usage_usec (\d+)/.exec(existsSync(join(d, "cpu.stat")) ? readFileSync(join(d, "cpu.stat"), "utf8") : "");
    if (m) return Number(m[1]) * 1000;
  }
  throw new Error(`no CPU usage file in ${dirs.join(", ")}`);
}

/**
 * A counter that appends 1, 2, 3... to the file named by $0. Appending never
 * leaves the file empty (a truncate-then-write counter frozen in between
 * would), so the last complete line is always the latest number.
 */
const COUNTER = 'i=0; while :; do i=$((i+1)); echo $i >> "$0"; done';
function count(file: string): number {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const lines = text.slice(0, text.lastIndexOf("\n") + 1).trim().split("\n");
  return Number(lines[lines.length - 1]) || 0;
}

beforeEach(async () => {
  h = await harness();
});

afterEach(async () => {
  for (const k of kids.splice(0)) if (k.exitCode === null && k.signalCode === null) k.kill("SIGKILL");
  if (!h) return;
  // Remove whatever the test left below box/<id>, also when it failed half-way.
  if (built && isRoot) {
    await cg("rm", "--force", "--recursive", "--parents", `box/${h.id}`);
    if (hasUnified) await v2("rm", "--force", "--recursive", "--parents", `box/${h.id}`);
  }
  const left = mine();
  await h.cleanup();
  expect(left, "cgroups left by the test").toEqual([]);
});

describe.skipIf(!built)("cgset usage", () => {
  it("--help prints the usage on stdout and exits 0", async () => {
    const r = expectOk(await cg("--help"));
    expect(r.stdout).toMatch(/^Usage:\n cgset create \[LIMITS\] PATH\n/);
    expect(r.stderr).toBe("");
    expect(expectOk(await cg("-h")).stdout).toBe(r.stdout);
    expect(expectOk(await cg("run", "--help")).stdout).toBe(r.stdout);
  });

  it("misuse: one line, 'Try', exit 2", async () => {
    oneLine(await cg(), 2, "missing command (create, update, run, attach, stats, procs, freeze, thaw, kill, rm, info)");
    oneLine(await cg("frobnicate", "x"), 2, "unknown command 'frobnicate'");
    oneLine(await cg("create"), 2, "create: missing PATH");
    oneLine(await cg("stats", "--memory", "1g", "x"), 2, "--memory cannot be used with stats");
    oneLine(await cg("create", "--bogus", "x"), 2, "unknown option '--bogus'");
    oneLine(await cg("create", "--memory", "12zz", "x"), 2, `invalid argument "12zz" for --memory: invalid size: '12zz'`);
    oneLine(await cg("attach", "x", "abc"), 2, "'abc' is not a process id");
    oneLine(await cg("create", "--devices", "permit c 1:3 rwm", "x"), 2, /^cgset: invalid argument "permit c 1:3 rwm" for --devices: device rule/);
  });
});

describe.skipIf(skipReason !== "")("cgset on the host's hierarchy", () => {
  it("create makes PATH below the caller's own cgroup in every hierarchy; rm -p takes it and its empty parents away", async () => {
    const dirs = expectOk(await cg("create", P("a"))).stdout.trim().split("\n");
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) {
      expect(d.endsWith(`/box/${h.id}/a`), d).toBe(true);
      expect(existsSync(d), d).toBe(true);
    }
    // On v1, the memory cgroup is below the one this process is confined to, never beside it.
    const self = readFileSync("/proc/self/cgroup", "utf8");
    const memLine = /^\d+:memory:(.*)$/m.exec(self);
    if (memLine) expect(dirs).toContain(`/sys/fs/cgroup/memory${memLine[1] === "/" ? "" : memLine[1]}/box/${h.id}/a`);
    oneLine(await cg("create", P("a")), 1, /^cgset: create box\/boxtest-\w+\/a: mkdir \S+: EEXIST \(file already exists\)$/);
    expectOk(await cg("rm", "--parents", P("a")));
    for (const d of dirs) {
      expect(existsSync(d), d).toBe(false);
      expect(existsSync(d.slice(0, d.lastIndexOf("/"))), "the parent box/<id>").toBe(false);
    }
  });

  it("bad input: one clear line, non-zero status, no cgroup left", async () => {
    oneLine(await cg("create", "--memory", "12zz", P("bad")), 2, `invalid argument "12zz" for --memory: invalid size: '12zz'`);
    const n = availableParallelism();
    oneLine(await cg("create", "--cpus", "-1", P("bad")), 1, `Range of CPUs is from 0.01 to ${n.toFixed(2)}, as there are only ${n} CPUs available`);
    oneLine(await cg("create", "--cpuset-cpus", "99", P("bad")), 1, /^cgset: Requested CPUs are not available - requested 99, available: \S+$/);
    oneLine(await cg("create", "--memory", "4m", P("bad")), 1, "Minimum memory limit allowed is 6MB");
    oneLine(await cg("create", "--cpu-quota", "500", P("bad")), 1, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    const kernel = await cg("create", "--memory", "64m", "--device-read-bps", "7:250:1m", P("bad"));
    if (canLimit("io")) {
      // One the kernel itself refuses, after the directories exist: they are removed again.
      oneLine(kernel, 1, /^cgset: create box\/\S+\/bad: write \/sys\/fs\/cgroup\/\S+(blkio\.throttle\.read_bps_device|io\.max): ENODEV \(no such device\)$/);
    } else {
      oneLine(kernel, 1, /^cgset: the io controller is not available in \/sys\/fs\/cgroup\/\S* \(it has [^)]*\)$/);
    }
    oneLine(await cg("stats", P("bad")), 1, /^cgset: open cgroup \S+: ENOENT \(no such file or directory\)$/);
    expect(mine()).toEqual([]);
  });

  it("run starts the command inside the cgroup and passes its status through", async () => {
    const r = expectOk(await cg("run", P("run"), "--", "cat", "/proc/self/cgroup"));
    // The first thing the command does already happens inside.
    for (const line of r.stdout.trim().split("\n")) {
      if (/^\d+:(name=systemd)?:/.test(line)) continue; // hierarchies cgset leaves alone
      expect(line).toContain(`/box/${h.id}/run`);
    }
    expectCode(await cg("run", P("run"), "--", "sh", "-c", "exit 7"), 7);
    oneLine(await cg("run", P("run"), "--", "no-such-command"), 127, "exec no-such-command: ENOENT (no such file or directory)");
    oneLine(await cg("run", P("run"), "--", "/etc/passwd"), 126, "exec /etc/passwd: EACCES (permission denied)");
    expectOk(await cg("run", "--rm", P("gone"), "--", "true"));
    expect(mine().filter((d) => d.endsWith("/gone"))).toEqual([]);
  });

  it("OOM: a process allocating past --memory 32m is SIGKILLed and the kill is counted", async () => {
    const r = await cg("run", "--memory", "32m", P("oom"), "--", "sh", "-c", 'x=$(head -c 100M /dev/zero | tr "\\0" x); echo survived');
    expect(r.signal, formatResult(r)).toBe("SIGKILL");
    expect(r.stdout).not.toContain("survived");
    const s = stats(await cg("stats", "--json", P("oom")));
    expect(s.memory?.oomKills, JSON.stringify(s)).toBeGreaterThanOrEqual(1);
    expect(s.memory?.limit).toBe(32 * 1024 * 1024);
    expect(expectOk(await cg("procs", P("oom"))).stdout).toBe("");
    const memDir = mine().find((d) => d.includes("/memory/") && d.endsWith("/oom"));
    if (memDir) expect(readFileSync(join(memDir, "memory.oom_control"), "utf8")).toMatch(/^oom_kill [1-9]\d*$/m);
  });

  it.skipIf(!canLimit("pids"))("a fork bomb under --pids-limit 20 stays at 20 tasks, and kill ends it", async () => {
    expectOk(await cg("create", "--pids-limit", "20", P("bomb")));
    // Every copy keeps forking, so the bomb keeps pressing on the limit until killed.
    const run = cg("run", P("bomb"), "--", "sh", "-c", "b() { while :; do b & done 2>/dev/null; }; b");
    try {
      const pidsDir = mine().find((d) => /\/pids\/.*\/bomb$/.test(d));
      await until("the bomb to hit the limit", async () => {
        const s = stats(await cg("stats", "--json", P("bomb")));
        return (s.pids?.current ?? 0) >= 15 && (!pidsDir || /^max [1-9]/m.test(readFileSync(join(pidsDir, "pids.events"), "utf8")));
      });
      for (let i = 0; i < 5; i++) {
        const s = stats(await cg("stats", "--json", P("bomb")));
        expect(s.pids?.limit).toBe(20);
        expect(s.pids?.current, JSON.stringify(s)).toBeLessThanOrEqual(20);
      }
      // The host still forks.
      expectOk(await h.run(["true"]));
    } finally {
      expectOk(await cg("kill", P("bomb")));
    }
    expect(expectOk(await cg("procs", P("bomb"))).stdout).toBe("");
    // The first shell may be gone long before: dash exits when a fork fails.
    await run;
    expectOk(await cg("rm", P("bomb")));
  });

  it.skipIf(!canLimit("cpu"))("--cpus 0.5 gives half a core (± 0.1) to two busy loops", async () => {
    const dirs = expectOk(await cg("create", "--cpus", "0.5", P("cpu"))).stdout.trim().split("\n");
    const run = cg("run", P("cpu"), "--", "sh", "-c", "while :; do :; done & a=$!; while :; do :; done & b=$!; sleep 9; kill $a $b");
    try {
      await until("the loops to start", () => usageNs(dirs) > 50e6);
      // Other work on the host can only take CPU away from the loops, never give them more than
      // the quota: every window must stay under 0.6. Where the host had spare CPU in a window
      // (idle + the loops' own share >= 0.6 of a core) the quota was the only limit, so the loops
      // must have reached 0.4; on a saturated host the nr_throttled check below still shows the
      // quota at work.
      const idleJiffies = () => {
        const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
        return f[4]! + f[5]!;
      };
      const windows: { share: number; idle: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const u0 = usageNs(dirs);
        const i0 = idleJiffies();
        const t0 = performance.now();
        await sleep(2000);
        const ms = performance.now() - t0;
        windows.push({ share: (usageNs(dirs) - u0) / (ms * 1e6), idle: (idleJiffies() - i0) / (ms / 10) });
        if (windows[i]!.share > 0.4) break;
      }
      const why = `windows ${windows.map((w) => `share ${w.share.toFixed(3)} idle ${w.idle.toFixed(2)}`).join("; ")}; load ${readFileSync("/proc/loadavg", "utf8").trim()}`;
      for (const w of windows) expect(w.share, why).toBeLessThan(0.6);
      for (const w of windows) if (w.idle + w.share >= 0.6) expect(w.share, why).toBeGreaterThan(0.4);
      const cpuDir = dirs.find((d) => existsSync(join(d, "cpu.stat")) && readFileSync(join(d, "cpu.stat"), "utf8").includes("nr_throttled"));
      if (cpuDir) expect(readFileSync(join(cpuDir, "cpu.stat"), "utf8")).toMatch(/^nr_throttled [1-9]\d*$/m);
    } finally {
      expectOk(await cg("kill", P("cpu")));
      await run;
    }
  });

  it.skipIf(!canLimit("cpuset"))("--cpuset-cpus 0 shows in Cpus_allowed_list", async () => {
    const r = expectOk(await cg("run", "--cpuset-cpus", "0", P("cpuset"), "--", "grep", "Cpus_allowed_list", "/proc/self/status"));
    expect(r.stdout).toMatch(/^Cpus_allowed_list:\s+0$/m);
  });

  it("freeze stops a counter and thaw resumes it", async () => {
    const file = join(h.root, "counter");
    expectOk(await cg("create", P("fz")));
    const run = cg("run", P("fz"), "--", "sh", "-c", COUNTER, file);
    await until("the counter", () => existsSync(file) && count(file) > 10);
    expectOk(await cg("freeze", P("fz")));
    const a = count(file);
    await sleep(300);
    expect(count(file)).toBe(a);
    expectOk(await cg("thaw", P("fz")));
    await until("the counter to move on", () => count(file) > a + 10, 5000);
    expectOk(await cg("kill", P("fz")));
    const r = await run;
    expect(r.signal, formatResult(r)).toBe("SIGKILL");
  });

  it("stats report memory, cpu and pids of a live cgroup", async () => {
    expectOk(await cg("create", "--memory", "64m", P("st")));
    const run = cg("run", P("st"), "--", "sh", "-c", 'x=$(head -c 8M /dev/zero | tr "\\0" x); i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30');
    await until("memory use", async () => (stats(await cg("stats", "--json", P("st"))).memory?.usage ?? 0) > 8e6, 20_000);
    const s = stats(await cg("stats", "--json", P("st")));
    expect(s.cpu?.usageNs, JSON.stringify(s)).toBeGreaterThan(0);
    if (canLimit("pids")) expect(s.pids?.current, JSON.stringify(s)).toBeGreaterThanOrEqual(1);
    else expect(s.pids, "no pids controller: no pids stats").toBeNull();
    expect(s.memory?.limit).toBe(64 * 1024 * 1024);
    const text = expectOk(await cg("stats", P("st"))).stdout;
    expect(text).toMatch(/^memory\.usage [1-9]\d*$/m);
    expect(text).toMatch(/^cpu\.usage_ns [1-9]\d*$/m);
    if (canLimit("pids")) expect(text).toMatch(/^pids\.current [1-9]\d*$/m);
    expectOk(await cg("kill", P("st")));
    await run;
  });

  it("devices: mknod of a disk (b 8:0) is denied, /dev/null's c 1:3 is allowed", async () => {
    const dir = join(h.root, "dev");
    mkdirSync(dir);
    const disk = await cg("run", "--devices", "default", P("dev"), "--", "mknod", join(dir, "sda"), "b", "8", "0");
    expect(disk.code, formatResult(disk)).not.toBe(0);
    expect(disk.stderr).toMatch(/Operation not permitted/);
    expect(existsSync(join(dir, "sda"))).toBe(false);
    expectOk(await cg("run", P("dev"), "--", "mknod", join(dir, "null"), "c", "1", "3"));
    expectOk(await cg("run", P("dev"), "--", "sh", "-c", "echo hi > /dev/null && head -c 4 /dev/zero | wc -c"));
    const devDir = mine().find((d) => /\/devices\/.*\/dev$/.test(d));
    if (devDir) expect(readFileSync(join(devDir, "devices.list"), "utf8")).toContain("c 1:3 rwm\n");
  });

  it("kill also gets processes forked while it runs", async () => {
    // A cap on the forking loop where the host can give one, should kill fail.
    expectOk(await cg("create", ...(canLimit("pids") ? ["--pids-limit", "300"] : []), P("k")));
    const run = cg("run", P("k"), "--", "sh", "-c", "while :; do (sleep 100 &); done");
    await until("forks", async () => (await procsOf(cg, P("k"))).length > 20);
    expectOk(await cg("kill", P("k")));
    expect(expectOk(await cg("procs", P("k"))).stdout).toBe("");
    await run;
    expectOk(await cg("rm", P("k")));
  });

  it("rm refuses a busy cgroup unless told to kill", async () => {
    const run = cg("run", P("busy"), "--", "sleep", "100");
    await until("the sleep", async () => (await procsOf(cg, P("busy"))).length > 0);
    oneLine(await cg("rm", P("busy")), 1, /^cgset: box\/\S+\/busy: not empty: pids \d+ \(--force kills them\)$/);
    oneLine(await cg("rm", `box/${h.id}`), 1, /has child cgroups \(busy\) in .* \(--recursive removes them\)$/);
    expectOk(await cg("rm", "--force", P("busy")));
    expect((await run).signal).toBe("SIGKILL");
  });

  it("attach moves a running process, and on v1 keeps it below the caller's memory cgroup", async () => {
    expectOk(await cg("create", "--memory", "64m", P("att")));
    const sleeper = spawn("sleep", ["100"], { stdio: "ignore" });
    kids.push(sleeper);
    expectOk(await cg("attach", P("att"), String(sleeper.pid)));
    const self = readFileSync("/proc/self/cgroup", "utf8");
    const theirs = readFileSync(`/proc/${sleeper.pid}/cgroup`, "utf8");
    const mem = /^\d+:memory:(.*)$/m.exec(self)?.[1];
    if (mem) expect(theirs).toContain(`:memory:${mem === "/" ? "" : mem}/box/${h.id}/att\n`);
    expect(expectOk(await cg("procs", P("att"))).stdout).toBe(`${sleeper.pid}\n`);
    expectOk(await cg("update", "--memory", "32m", P("att")));
    expect(stats(await cg("stats", "--json", P("att"))).memory?.limit).toBe(32 * 1024 * 1024);
    expectOk(await cg("rm", "--force", P("att")));
  });
});

describe.skipIf(skipReason !== "" || !hasUnified)(`cgset's v2 backend on ${UNIFIED}`, () => {
  it("create, attach, stats, rm; the process keeps its v1 memory cgroup", async () => {
    // info: the caller's cgroup there, and what a cgroup below it can use (freezing and device rules always).
    expect(expectOk(await v2("info")).stdout).toMatch(/^version 2\n([a-z_]+,)*devices,freezer \/sys\/fs\/cgroup\/unified\S*\n$/);
    const dirs = expectOk(await v2("create", P("v2"))).stdout.trim().split("\n");
    expect(dirs).toEqual([`${UNIFIED}/box/${h.id}/v2`]);
    const before = readFileSync("/proc/self/cgroup", "utf8");
    const busy = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
    kids.push(busy);
    expectOk(await v2("attach", P("v2"), String(busy.pid)));
    const theirs = readFileSync(`/proc/${busy.pid}/cgroup`, "utf8");
    expect(theirs).toMatch(new RegExp(`^0::/box/${h.id}/v2$`, "m"));
    expect(/^\d+:memory:.*$/m.exec(theirs)?.[0]).toBe(/^\d+:memory:.*$/m.exec(before)?.[0]);
    expect(expectOk(await v2("procs", P("v2"))).stdout).toBe(`${busy.pid}\n`);
    await until("CPU time", async () => (stats(await v2("stats", "--json", P("v2"))).cpu?.usageNs ?? 0) > 0);
    const s = stats(await v2("stats", "--json", P("v2")));
    expect(s.memory).toBeNull(); // no memory controller on this mount
    oneLine(await v2("rm", P("v2")), 1, /not empty: pids \d+/);
    expectOk(await v2("rm", "--force", "--parents", P("v2")));
    expect(existsSync(dirs[0]!)).toBe(false);
    expect(existsSync(`${UNIFIED}/box/${h.id}`)).toBe(false);
  });

  it("freeze stops a counter (cgroup.freeze, cgroup.events) and thaw resumes it", async () => {
    const file = join(h.root, "counter2");
    const run = v2("run", P("fz"), "--", "sh", "-c", COUNTER, file);
    await until("the counter", () => existsSync(file) && count(file) > 10);
    expectOk(await v2("freeze", P("fz")));
    expect(readFileSync(`${UNIFIED}/box/${h.id}/fz/cgroup.events`, "utf8")).toMatch(/^frozen 1$/m);
    const a = count(file);
    await sleep(300);
    expect(count(file)).toBe(a);
    expectOk(await v2("thaw", P("fz")));
    await until("the counter to move on", () => count(file) > a + 10, 5000);
    expectOk(await v2("kill", P("fz")));
    expect((await run).signal).toBe("SIGKILL");
  });

  it("kill (cgroup.kill) gets processes forked while it runs", async () => {
    const run = v2("run", P("k"), "--", "sh", "-c", "while :; do (sleep 100 &); done");
    await until("forks", async () => (await procsOf(v2, P("k"))).length > 20);
    expectOk(await v2("kill", P("k")));
    expect(expectOk(await v2("procs", P("k"))).stdout).toBe("");
    await run;
    expectOk(await v2("rm", P("k")));
  });

  it("devices: the eBPF filter denies mknod b 8:0 and allows c 1:3", async () => {
    const dir = join(h.root, "dev2");
    mkdirSync(dir);
    const disk = await v2("run", "--devices", "default", P("dev"), "--", "mknod", join(dir, "sda"), "b", "8", "0");
    expect(disk.code, formatResult(disk)).not.toBe(0);
    expect(disk.stderr).toMatch(/Operation not permitted/);
    expectOk(await v2("run", P("dev"), "--", "mknod", join(dir, "null"), "c", "1", "3"));
    expectOk(await v2("run", P("dev"), "--", "sh", "-c", "echo hi > /dev/null"));
    const loop = await v2("run", P("dev"), "--", "sh", "-c", "head -c 1 /dev/loop0");
    expect(loop.code, formatResult(loop)).not.toBe(0);
    expect(loop.stderr).toMatch(/Operation not permitted/);
    // An update replaces the program; detaching the old one leaves exactly one.
    expectOk(await v2("update", "--devices", "default", "--devices", "allow b 7:* r", P("dev")));
    expectOk(await v2("run", P("dev"), "--", "sh", "-c", "head -c 1 /dev/loop0 >/dev/null"));
  });

  it("a controller the mount lacks: one line, exit 1, nothing made", async () => {
    oneLine(await v2("create", "--memory", "64m", P("nomem")), 1, /^cgset: the memory controller is not available in \/sys\/fs\/cgroup\/unified \(it has .*\)$/);
    oneLine(await v2("create", "--pids-limit", "20", P("nopids")), 1, /^cgset: the pids controller is not available/);
    expect(existsSync(`${UNIFIED}/box/${h.id}`)).toBe(false);
  });

  it("run --rm removes the cgroup after the command", async () => {
    const r = expectOk(await v2("run", "--rm", P("once"), "--", "cat", "/proc/self/cgroup"));
    expect(r.stdout).toMatch(new RegExp(`^0::/box/${h.id}/once$`, "m"));
    expect(existsSync(`${UNIFIED}/box/${h.id}/once`)).toBe(false);
  });
});
