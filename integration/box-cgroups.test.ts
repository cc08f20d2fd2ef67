// box and cgroups end to end: each container in its own cgroup (box/ID,
// through cgset), its limits enforced by the kernel, pause/unpause/stats/update
// on it, and nothing left in /sys/fs/cgroup once the container is gone.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, harness, importBusybox, leaks, type Harness } from "./lib/harness.js";
import { canLimit } from "./lib/cgroups.js";

let h: Harness;
const ids: string[] = [];

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
});

afterAll(async () => {
  await h?.cleanup();
});

/** Cgroup directories anywhere under /sys/fs/cgroup named after a container id. */
function cgroupsOf(id: string): string[] {
  const out = execFileSync("find", ["/sys/fs/cgroup", "-name", `${id}*`], { encoding: "utf8" });
  return out.split("\n").filter(Boolean);
}

afterEach(async () => {
  // A failed test still removes its containers, so the next one starts clean.
  for (const id of ids) await h.box("rm", "-f", id);
  for (const id of ids.splice(0)) expect(cgroupsOf(id), `cgroups of ${id}`).toEqual([]);
  expect(formatLeaks(leaks(h))).toBe("");
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("box and cgroups", () => {
  it("an allocation past -m 32m is OOM-killed: exit 137 and State.OOMKilled true", async () => {
    const r = expectCode(
      await h.box("run", "--name", "oom", "--network", "none", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c", 'x=$(head -c 104857600 /dev/zero | tr "\\0" x); echo survived'),
      137,
    );
    expect(r.stdout).not.toContain("survived");
    const id = expectOk(await h.box("inspect", "-f", "{{.Id}}", "oom")).stdout.trim();
    ids.push(id);
    expect(cgroupsOf(id), "the cgroup goes when the container stops").toEqual([]);
    expect(expectOk(await h.box("inspect", "-f", "{{.State.OOMKilled}} {{.HostConfig.Memory}}", "oom")).stdout).toBe(`true ${32 * 1024 * 1024}\n`);
    expect(cgroupsOf(id)).toEqual([]);
    expectOk(await h.box("rm", "oom"));
  });

  it.skipIf(!canLimit("pids"))("--pids-limit 20 contains a fork bomb", async () => {
    const r = await h.box("run", "--rm", "--network", "none", "--pids-limit", "20", "busybox", "sh", "-c", "for i in $(seq 50); do sleep 2 & done; wait; echo done", { timeoutMs: 30_000 });
    expect(r.timedOut).toBe(false);
    expect(r.stderr, r.stderr).toMatch(/fork/i);
    // busybox sh gives up at the first failed fork: the loop never gets past the limit
    expect(r.stdout).toBe("");
    // the host is unaffected: it still forks
    expectOk(await h.run(["sh", "-c", "for i in $(seq 30); do true & done; wait"]));
  });

  it.skipIf(!canLimit("cpuset"))("--cpuset-cpus 0 pins the container to CPU 0", async () => {
    const r = expectOk(await h.box("run", "--rm", "--network", "none", "--cpuset-cpus", "0", "busybox", "grep", "Cpus_allowed_list", "/proc/self/status"));
    expect(r.stdout).toMatch(/^Cpus_allowed_list:\s+0$/m);
  });

  it("pause stops a counter, unpause resumes it; ps and inspect say paused", async () => {
    const vol = join(h.root, "counter");
    mkdirSync(vol, { recursive: true });
    const id = expectOk(await h.box("run", "-d", "--name", "counter", "--network", "none", "-v", `${vol}:/data`, "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /data/n; sleep 0.05; done")).stdout.trim();
    ids.push(id);
    // `echo $i > n` truncates before it writes: a read in between sees an empty file.
    const count = () => {
      let text = "";
      for (let i = 0; i < 50 && !text; i++) text = readFileSync(join(vol, "n"), "utf8").trim();
      return Number(text || "0");
    };
    await sleep(500);
    expect(count()).toBeGreaterThan(0);
    expectOk(await h.box("pause", "counter"));
    expect(expectOk(await h.box("inspect", "-f", "{{.State.Paused}} {{.State.Status}}", "counter")).stdout).toBe("true paused\n");
    expect(expectOk(await h.box("ps", "--filter", "name=counter")).stdout).toMatch(/Up .* \(Paused\)/);
    const frozen = count();
    await sleep(500);
    expect(count()).toBe(frozen);
    expectOk(await h.box("unpause", "counter"));
    expect(expectOk(await h.box("inspect", "-f", "{{.State.Paused}} {{.State.Status}}", "counter")).stdout).toBe("false running\n");
    await sleep(500);
    expect(count()).toBeGreaterThan(frozen);
    expectOk(await h.box("rm", "-f", "counter"));
  });

  it("box stats --no-stream reports memory and pids; box update changes a live limit", async () => {
    const id = expectOk(await h.box("run", "-d", "--name", "busy", "--network", "none", "busybox", "sh", "-c", "sleep 300 & sleep 300 & wait")).stdout.trim();
    ids.push(id);
    await sleep(300);
    const r = expectOk(await h.box("stats", "--no-stream"));
    const [head, ...rows] = r.stdout.trim().split("\n");
    expect(head).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    const row = rows.find((l) => l.startsWith(id.slice(0, 12)));
    expect(row, r.stdout).toBeDefined();
    const j = JSON.parse(expectOk(await h.box("stats", "--no-stream", "--format", "json", "busy")).stdout) as Record<string, string>;
    expect(j.Name).toBe("busy");
    if (canLimit("pids")) expect(Number(j.PIDs)).toBeGreaterThanOrEqual(3);
    expect(j.MemUsage).not.toMatch(/^0B /);
    expectOk(await h.box("update", "-m", "64m", ...(canLimit("pids") ? ["--pids-limit", "30"] : []), "busy"));
    const j2 = JSON.parse(expectOk(await h.box("stats", "--no-stream", "--format", "json", "busy")).stdout) as Record<string, string>;
    expect(j2.MemUsage).toMatch(/ \/ 64MiB$/);
    if (canLimit("pids")) expect(expectOk(await h.box("inspect", "-f", "{{.HostConfig.PidsLimit}}", "busy")).stdout).toBe("30\n");
    expectOk(await h.box("rm", "-f", "busy"));
  });

  it("box exec runs in the container's cgroup", async () => {
    const id = expectOk(await h.box("run", "-d", "--name", "ex", "--network", "none", "busybox", "sleep", "300")).stdout.trim();
    ids.push(id);
    const r = expectOk(await h.box("exec", "ex", "cat", "/proc/self/cgroup"));
    // v1: the memory hierarchy's line; v2: the one line, 0::.
    expect(r.stdout).toMatch(new RegExp(`^\\d+:(memory)?:.*/box[^/]*/${id}$`, "m"));
    expectOk(await h.box("rm", "-f", "ex"));
  });

  it("a detached container's cgroup goes when it exits, before box rm", async () => {
    const id = expectOk(await h.box("run", "-d", "--name", "brief", "--network", "none", "-m", "64m", "busybox", "sh", "-c", "sleep 0.3")).stdout.trim();
    ids.push(id);
    expect(cgroupsOf(id).length).toBeGreaterThan(0);
    expect(expectOk(await h.box("wait", "brief")).stdout).toBe("0\n");
    for (let i = 0; i < 50 && cgroupsOf(id).length; i++) await sleep(100);
    expect(cgroupsOf(id)).toEqual([]);
    expect(expectOk(await h.box("inspect", "-f", "{{.State.OOMKilled}}", "brief")).stdout).toBe("false\n");
    expectOk(await h.box("rm", "brief"));
  });

  it("--cgroup-parent puts the container below another cgroup, relative or from the root, and leaves that parent", async () => {
    // Relative: below the caller's own cgroup. Absolute: from the hierarchy's root, here the
    // caller's own path again, so that on v1 the container stays below this session's memory cgroup.
    const self = readFileSync("/proc/self/cgroup", "utf8");
    // On v2 an earlier cgroup may have moved this process into its cgroup's `init` leaf (so that
    // the cgroup could hand controllers down): box works from the cgroup itself, as cgset does.
    const own = (/^\d+:memory:(.*)$/m.exec(self) ?? /^0::(.*)$/m.exec(self))![1]!.replace(/\/$/, "").replace(/\/init$/, "");
    const parents = [`box-${h.id}-rel`, `${own}/box-${h.id}-abs`];
    for (const parent of parents) {
      try {
        const r = expectOk(await h.box("run", "--name", "parented", "--network", "none", "--cgroup-parent", parent, "-m", "64m", "busybox", "cat", "/proc/self/cgroup"));
        const id = expectOk(await h.box("inspect", "-f", "{{.Id}} {{.HostConfig.CgroupParent}}", "parented")).stdout.trim().split(" ");
        expect(id[1]).toBe(parent);
        const where = parent.startsWith("/") ? parent : `${own}/${parent}`;
        expect(r.stdout, parent).toMatch(new RegExp(`^\\d+:(memory)?:${where}/${id[0]}$`, "m"));
        expect(cgroupsOf(id[0]!), "the container's cgroup goes when it stops").toEqual([]);
        expectOk(await h.box("rm", "parented"));
        // The parent is the user's, as with Docker: it stays until they remove it.
        const left = execFileSync("find", ["/sys/fs/cgroup", "-name", `box-${h.id}-*`], { encoding: "utf8" }).split("\n").filter(Boolean);
        expect(left.length, `${parent} stays`).toBeGreaterThan(0);
        // --parents: on v1 the absolute path was made in every hierarchy, where this process sits at
        // the root; its empty parents there go too (in memory it stops at this process's own).
        expectOk(await h.tool("cgset", "rm", "--parents", parent));
      } finally {
        await h.box("rm", "-f", "parented");
        await h.tool("cgset", "rm", "--force", "--recursive", "--parents", parent);
      }
    }
    const bad = expectCode(await h.box("run", "--rm", "--network", "none", "--cgroup-parent", "../up", "busybox", "true"), 125);
    expect(bad.stderr.trim()).toBe("box: invalid --cgroup-parent: cgroup path '../up': '..' is not a cgroup name");
  });

  it.each([
    [["-m", "12zz"], /^box: invalid argument "12zz" for "-m, --memory" flag/],
    [["--cpus=-1"], /^box: Range of CPUs is from 0.01 to/],
    [["--cpuset-cpus", "99"], /^box: Requested CPUs are not available - requested 99/],
  ])("refuses %j with one line and exit 125, making nothing", async (flags, message) => {
    const r = expectCode(await h.box("run", "--rm", "--name", "bad", ...flags, "busybox", "true"), 125);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expectCode(await h.box("inspect", "bad"), 1);
    // Nothing was made: no container id, so no box/ID cgroup (the id names both; afterEach checks the cgroups of every id on disk).
    const dir = join(h.root, "containers");
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
