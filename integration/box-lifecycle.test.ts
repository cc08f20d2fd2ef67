// Detached containers end to end: box run -d, the per-container box-monitor, and the verbs that
// manage a container over its life (ps, logs, exec, stop, kill, wait, restart, rm, inspect, top,
// rename, attach), against the real kernel, with nothing left behind.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, expectCode, expectOk, formatLeaks, harness, importBusybox, leaks, type Harness, type RunResult } from "./lib/harness.js";

let h: Harness;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
});

afterAll(async () => {
  await h?.cleanup();
});

const containers = () => (existsSync(join(h.root, "containers")) ? readdirSync(join(h.root, "containers")) : []);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Type `echo $((6*7))-answer` into an attached child after `delayMs`, then Ctrl-P Ctrl-Q once the
 * answer is back (or after 10 s: a fixed delay fails on a loaded machine); killed after 20 s.
 */
function askThenDetach(child: ChildProcessWithoutNullStreams, command: string[], delayMs: number): Promise<RunResult> {
  return new Promise<RunResult>((resolve) => {
    let out = "";
    let err = "";
    let detached = false;
    const detach = () => {
      if (!detached) child.stdin.write("\x10\x11");
      detached = true;
    };
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("42-answer")) detach();
    });
    child.stderr.on("data", (d) => (err += d));
    setTimeout(() => child.stdin.write("echo $((6*7))-answer\n"), delayMs);
    setTimeout(detach, 10_000);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ command, code, signal, stdout: out, stderr: err, timedOut: false, ms: 0 });
    });
  });
}

/** The command lines of the host's processes, NUL-separated as in /proc (a zombie's is empty). */
function hostCmdlines(): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8");
      } catch {
        return "";
      }
    });
}

function expectClean(): void {
  expect(formatLeaks(leaks(h))).toBe("");
  expect(containers()).toEqual([]);
  expect(existsSync(join(h.root, "names")) ? readdirSync(join(h.root, "names")) : []).toEqual([]);
}

async function runD(...args: string[]): Promise<string> {
  const r = expectOk(await h.box("run", "-d", ...args));
  const id = r.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return id;
}

interface Runtime {
  Status: string;
  Pid: number;
  MonitorPid: number;
  ExitCode: number;
  RestartCount: number;
}
const runtime = (id: string): Runtime => JSON.parse(readFileSync(join(h.runDir, "containers", id, "state.json"), "utf8")) as Runtime;

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function inspect(ref: string): Promise<Record<string, any>> {
  const r = expectOk(await h.box("inspect", ref));
  const arr = JSON.parse(r.stdout) as Record<string, any>[];
  expect(arr).toHaveLength(1);
  return arr[0]!;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
};

describe("box run -d", () => {
  it("prints the full id at once, and a later box ps sees the container by its given or generated name", async () => {
    const t0 = Date.now();
    const id = await runD("--name", "web", "busybox", "sleep", "300");
    expect(Date.now() - t0).toBeLessThan(5000);
    const gen = await runD("busybox", "sleep", "300");
    const ps = expectOk(await h.box("ps"));
    expect(ps.stdout.split("\n")[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.stdout).toMatch(new RegExp(`${id.slice(0, 12)}\\s+busybox\\s+"sleep 300"\\s+.*\\s+Up .*\\s+web\\n`));
    const genName = expectOk(await h.box("inspect", "-f", "{{.Name}}", gen)).stdout.trim();
    expect(genName).toMatch(/^\/[a-z]+_[a-z]+\d*$/);
    expect(expectOk(await h.box("ps", "-q", "--no-trunc")).stdout.trim().split("\n").sort()).toEqual([id, gen].sort());
    expect(expectOk(await h.box("ps", "--filter", "name=web", "--format", "{{.ID}} {{.Names}} {{.State}}")).stdout).toBe(`${id.slice(0, 12)} web running\n`);
    const json = expectOk(await h.box("ps", "--filter", `id=${gen.slice(0, 8)}`, "--format", "json")).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ ID: gen.slice(0, 12), Image: "busybox", State: "running", Names: genName.slice(1) });
    // A name in use: 125, and nothing created.
    const before = containers().length;
    const dup = expectCode(await h.box("run", "-d", "--name", "web", "busybox", "true"), 125);
    expect(dup.stderr).toMatch(/Conflict. The container name "\/web" is already in use/);
    expect(containers()).toHaveLength(before);
    expectOk(await h.box("rm", "-f", "web", gen));
    expectClean();
  });

  it("box ps -a shows Exited (N) with the code; --filter status= selects", async () => {
    const id = await runD("--name", "quick", "busybox", "sh", "-c", "exit 7");
    expectOk(await h.box("wait", "quick"));
    const ps = expectOk(await h.box("ps", "-a"));
    expect(ps.stdout).toMatch(/Exited \(7\) .* ago\s+quick/);
    expect(expectOk(await h.box("ps")).stdout).not.toContain("quick");
    expect(expectOk(await h.box("ps", "-q", "--filter", "status=exited")).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect(expectOk(await h.box("ps", "-q", "--filter", "status=running")).stdout).toBe("");
    expectOk(await h.box("rm", "quick"));
    expectClean();
  });

  it("a command that cannot start gives 127 or 126 and leaves nothing", async () => {
    const r = expectCode(await h.box("run", "-d", "busybox", "no-such-command"), 127);
    expect(r.stderr).toMatch(/exec no-such-command: ENOENT/);
    expectCode(await h.box("run", "-d", "busybox", "/etc/passwd"), 126);
    await until("monitors to leave", () => formatLeaks(leaks(h)) === "");
    expectClean();
  });
});

describe("box logs", () => {
  it("keeps stdout and stderr apart, with --tail, --timestamps and --since", async () => {
    await runD("--name", "talker", "busybox", "sh", "-c", "echo out1; echo err1 >&2; echo out2; printf partial");
    expectOk(await h.box("wait", "talker"));
    const r = expectOk(await h.box("logs", "talker"));
    expect(r.stdout).toBe("out1\nout2\npartial");
    expect(r.stderr).toBe("err1\n");
    const tail = expectOk(await h.box("logs", "--tail", "1", "talker"));
    expect(tail.stdout + tail.stderr).toBe("partial");
    const ts = expectOk(await h.box("logs", "-t", "talker"));
    expect(ts.stdout.split("\n")[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1$/);
    expect(expectOk(await h.box("logs", "--since", "2999-01-01T00:00:00Z", "talker")).stdout).toBe("");
    // The file is Docker's json-file format.
    const id = expectOk(await h.box("inspect", "-f", "{{.Id}}", "talker")).stdout.trim();
    const first = JSON.parse(readFileSync(join(h.root, "containers", id, `${id}-json.log`), "utf8").split("\n")[0]!);
    expect(first).toMatchObject({ log: "out1\n", stream: "stdout" });
    expect(first.time).toMatch(/Z$/);
    expectOk(await h.box("rm", "talker"));
    expectClean();
  });

  it("survives binary output, follows with -f until the container exits, and rotates at max-size", async () => {
    await runD("--name", "bin", "busybox", "sh", "-c", "printf 'a\\000b\\377\\376c\\n'; printf '\\033[1mbold\\n' >&2");
    expectOk(await h.box("wait", "bin"));
    const r = expectOk(await h.box("logs", "bin"));
    expect(r.stdout).toBe("a\u0000b\ufffd\ufffdc\n");
    expect(r.stderr).toBe("\u001b[1mbold\n");

    await runD("--name", "follow", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done");
    const f = expectOk(await h.box("logs", "-f", "follow"));
    expect(f.stdout).toBe("line1\nline2\nline3\n");

    const id = await runD("--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done");
    expectOk(await h.box("wait", "rot"));
    const log = join(h.root, "containers", id, `${id}-json.log`);
    expect(existsSync(`${log}.1`)).toBe(true);
    expect(existsSync(`${log}.2`)).toBe(false);
    expect(readFileSync(log).length).toBeLessThanOrEqual(1024);
    const kept = expectOk(await h.box("logs", "rot")).stdout.trim().split("\n");
    expect(kept[kept.length - 1]).toBe("line-99");
    expect(kept.length).toBeLessThan(100);
    expectOk(await h.box("rm", "bin", "follow", "rot"));
    expectClean();
  });
});

describe("box exec", () => {
  it("exec gives the user its supplementary groups from the container's /etc/group, as docker exec", async () => {
    await runD("--name", "groups", "--network", "none", "busybox", "sh", "-c", "echo extra:x:777:root,nobody >> /etc/group; touch /ready; sleep 300");
    try {
      for (let i = 0; i < 100 && (await h.box("exec", "groups", "test", "-e", "/ready")).code !== 0; i++) await sleep(50);
      expect(expectOk(await h.box("exec", "groups", "id", "-G")).stdout.trim().split(" ")).toContain("777");
      expect(expectOk(await h.box("exec", "-u", "nobody", "groups", "id", "-G")).stdout.trim().split(" ")).toContain("777");
    } finally {
      expectOk(await h.box("rm", "-f", "groups"));
    }
  });

  it("exec -t gives a terminal of the container's own devpts, as docker exec -t", async () => {
    await runD("--name", "ttyexec", "--network", "none", "busybox", "sleep", "300");
    try {
      const cmd = `${binPath("box")} exec -t ttyexec sh -c 'tty; test -t 0 && echo IN-TTY; ls -1 /dev/pts'`;
      const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { env: h.env, encoding: "utf8", input: "" });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.replace(/\r/g, "").split("\n").slice(0, 4)).toEqual(["/dev/pts/0", "IN-TTY", "0", "ptmx"]);
    } finally {
      expectOk(await h.box("rm", "-f", "ttyexec"));
    }
  });

  it("joins the container: PID 1 is the container's command, its own parent is 0, the exit code passes", async () => {
    await runD("--name", "target", "-e", "FROM_RUN=1", "busybox", "sleep", "300");
    const r = expectOk(await h.box("exec", "target", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; grep PPid /proc/$$/status; hostname; echo $FROM_RUN; grep CapEff /proc/$$/status; pwd"));
    const [pid1, ppid, hostname, env, capeff, cwd] = r.stdout.trim().split("\n");
    expect(pid1!.trim()).toBe("sleep 300");
    expect(ppid).toBe("PPid:\t0");
    expect(hostname).toMatch(/^[0-9a-f]{12}$/);
    expect(env).toBe("1");
    expect(capeff).toBe("CapEff:\t00000000a80425fb");
    expect(cwd).toBe("/");
    expectCode(await h.box("exec", "target", "sh", "-c", "exit 42"), 42);
    expectCode(await h.box("exec", "target", "no-such-command"), 127);
    const u = expectOk(await h.box("exec", "-u", "app", "-w", "/tmp", "-e", "X=y", "target", "sh", "-c", "id -u; pwd; echo $X $HOME"));
    expect(u.stdout).toBe("1000\n/tmp\ny /home/app\n");
    // The container's masked paths hold for exec too.
    expect(expectOk(await h.box("exec", "target", "sh", "-c", "wc -c </proc/keys")).stdout.trim()).toBe("0");
    expect(expectOk(await h.box("exec", "-i", "target", "cat", { input: "via-stdin\n" })).stdout).toBe("via-stdin\n");
    expectOk(await h.box("kill", "target"));
    expectOk(await h.box("wait", "target"));
    const stopped = expectCode(await h.box("exec", "target", "true"), 1);
    expect(stopped.stderr).toMatch(/is not running/);
    expectOk(await h.box("rm", "target"));
    expectClean();
  });
});

describe("box stop, kill, wait, restart", () => {
  it("stop escalates to SIGKILL after -t when the process ignores SIGTERM", async () => {
    await runD("--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done");
    const t0 = Date.now();
    expectOk(await h.box("stop", "-t", "1", "stubborn"));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(8000);
    const s = await inspect("stubborn");
    expect(s.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 137 });
    expect(s.State.FinishedAt).not.toBe("0001-01-01T00:00:00Z");
    expectOk(await h.box("rm", "stubborn"));
    expectClean();
  });

  it("stop sends SIGTERM first; kill -s sends the signal; wait prints the exit code", async () => {
    await runD("--name", "polite", "busybox", "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done");
    const t0 = Date.now();
    expectOk(await h.box("stop", "polite"));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(expectOk(await h.box("wait", "polite")).stdout).toBe("3\n");

    await runD("--name", "usr1", "busybox", "sh", "-c", "trap 'exit 11' USR1; while true; do sleep 0.1; done");
    const waiter = h.box("wait", "usr1");
    await sleep(200);
    expectOk(await h.box("kill", "-s", "USR1", "usr1"));
    expect(expectOk(await waiter).stdout).toBe("11\n");
    const k = expectCode(await h.box("kill", "usr1"), 1);
    expect(k.stderr).toMatch(/is not running/);
    expectOk(await h.box("rm", "polite", "usr1"));
    expectClean();
  });

  it("a restart policy restarts a failing container; box restart starts it again", async () => {
    await runD("--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 5");
    await until("two restarts", async () => {
      const s = await inspect("flaky");
      return s.RestartCount === 2 && s.State.Status === "exited";
    });
    expect(expectOk(await h.box("logs", "flaky")).stdout).toBe("run\nrun\nrun\n");
    expect((await inspect("flaky")).State.ExitCode).toBe(5);

    await runD("--name", "svc", "--restart", "always", "busybox", "sleep", "300");
    const first = (await inspect("svc")).State;
    expectOk(await h.box("restart", "-t", "0", "svc"));
    const second = (await inspect("svc")).State;
    expect(second.Running).toBe(true);
    expect(second.Pid).not.toBe(first.Pid);
    expect(second.StartedAt > first.StartedAt).toBe(true);
    // A stopped container stays down despite "always".
    expectOk(await h.box("stop", "-t", "0", "svc"));
    await sleep(500);
    expect((await inspect("svc")).State.Running).toBe(false);
    expectOk(await h.box("start", "svc"));
    expect((await inspect("svc")).State.Running).toBe(true);
    expectOk(await h.box("rm", "-f", "flaky", "svc"));
    expectClean();
  });
});

describe("box rm, inspect, top, rename", () => {
  it("refuses to remove a running container without -f; says No such container for unknown ones", async () => {
    await runD("--name", "busy", "busybox", "sleep", "300");
    const r = expectCode(await h.box("rm", "busy"), 1);
    expect(r.stderr).toMatch(/cannot remove container "\/busy": container is running: stop the container before removing or force remove/);
    expect(expectOk(await h.box("ps", "-q")).stdout).not.toBe("");
    for (const args of [["rm", "nosuch"], ["stop", "nosuch"], ["logs", "nosuch"], ["inspect", "nosuch"], ["exec", "nosuch", "true"], ["wait", "nosuch"], ["kill", "nosuch"]]) {
      const n = expectCode(await h.box(...args), 1, args.join(" "));
      expect(n.stderr).toMatch(/No such container: nosuch/);
    }
    expectOk(await h.box("rm", "-f", "busy"));
    expectClean();
  });

  it("inspect is Docker-shaped; top lists the container's processes; rename moves the name", async () => {
    const id = await runD("--name", "shape", "-v", `${h.root}:/host:ro`, "busybox", "sh", "-c", "sleep 300 & sleep 301");
    const s = await inspect("shape");
    expect(s).toMatchObject({ Id: id, Name: "/shape", Path: "sh", Args: ["-c", "sleep 300 & sleep 301"], RestartCount: 0 });
    expect(s.State).toMatchObject({ Status: "running", Running: true, Paused: false, Restarting: false, OOMKilled: false, ExitCode: 0 });
    expect(s.State.Pid).toBeGreaterThan(1);
    expect(s.Mounts).toEqual([{ Type: "bind", Source: h.root, Destination: "/host", Mode: "ro", RW: false, Propagation: "rprivate" }]);
    expect(s.Config).toMatchObject({ Image: "busybox", Tty: false });
    // Docker's default network, box0 here, is called "bridge".
    expect(s.NetworkSettings.Networks).toHaveProperty("bridge");
    expect(s.NetworkSettings.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(s.LogPath).toBe(join(h.root, "containers", id, `${id}-json.log`));
    const top = expectOk(await h.box("top", "shape"));
    const lines = top.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/PID/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(7).join(" ")).sort()).toEqual(["sleep 300", "sleep 301"]);
    expectOk(await h.box("rename", "shape", "reshaped"));
    expect((await inspect("reshaped")).Id).toBe(id);
    expectCode(await h.box("inspect", "shape"), 1);
    expectOk(await h.box("run", "-d", "--name", "shape", "busybox", "true"));
    expectOk(await h.box("rm", "-f", "reshaped", "shape"));
    expectClean();
  });

  it("a container whose box was killed before its record was written is Dead: ps -a lists it, rm removes it and its name", async () => {
    // The two places a killed `box run` can leave one: renamed into place, or still staged.
    const ids = [randomBytes(32).toString("hex"), randomBytes(32).toString("hex")];
    const dirs = [join(h.root, "containers", ids[0]!), join(h.root, "containers", `.new-${ids[1]}`)];
    mkdirSync(join(h.root, "names"), { recursive: true });
    for (const [i, dir] of dirs.entries()) {
      mkdirSync(join(dir, "upper"), { recursive: true });
      writeFileSync(join(dir, "lock"), "");
      writeFileSync(join(h.root, "names", `dead${i}`), ids[i]!);
    }
    // A maker still at work holds the lock: its container is not listed, nor removed under it.
    // flock(1) forks its command, which holds the lock too: the whole group goes below.
    const maker = spawn("flock", [join(dirs[0]!, "lock"), "sleep", "30"], { stdio: "ignore", detached: true });
    const held = () => readFileSync("/proc/locks", "utf8").includes(`:${statSync(join(dirs[0]!, "lock")).ino} `);
    for (let i = 0; i < 100 && !held(); i++) await sleep(20);
    expect(held()).toBe(true);
    const ps = async () => expectOk(await h.box("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Status}} {{.State}}")).stdout;
    expect((await ps()).trim().split("\n")).toEqual([`${ids[1]} dead1 Dead dead`]);
    process.kill(-maker.pid!, "SIGKILL");
    for (let i = 0; i < 100 && held(); i++) await sleep(20);
    expect((await ps()).trim().split("\n").sort()).toEqual([`${ids[0]} dead0 Dead dead`, `${ids[1]} dead1 Dead dead`].sort());
    expect(expectCode(await h.box("start", "dead0"), 1).stderr).toMatch(/No such container: dead0/);
    expect(expectOk(await h.box("rm", "dead0", ids[1]!.slice(0, 12))).stdout.split("\n").filter(Boolean)).toEqual(["dead0", ids[1]!.slice(0, 12)]);
    expect(await ps()).toBe("");
    expectClean();
  });
});

describe("box container", () => {
  it("is Docker's management command over the same verbs; prune removes what is not running and says what it took; info counts", async () => {
    const up = await runD("--name", "up", "--network", "none", "busybox", "sleep", "300");
    const done = await runD("--name", "done", "--network", "none", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /blob");
    expectOk(await h.box("wait", "done"));
    const made = expectOk(await h.box("container", "create", "--name", "made", "--network", "none", "busybox", "true")).stdout.trim();
    const ls = async () => expectOk(await h.box("container", "ls", "-a", "-q", "--no-trunc"));
    expect((await ls()).stdout.trim().split("\n").sort()).toEqual([up, done, made].sort());
    // Without -f it asks, and a "no" (here: end of input) removes nothing.
    const asked = expectOk(await h.box("container", "prune", { input: "" }));
    expect(asked.stderr).toContain("WARNING! This will remove all stopped containers.");
    expect((await ls()).stdout.trim().split("\n")).toHaveLength(3);
    const r = expectOk(await h.box("container", "prune", "-f"));
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("Deleted Containers:");
    expect(lines.slice(1, 3).sort()).toEqual([done, made].sort());
    // The stopped one wrote 100 kB to its upper layer.
    expect(lines.at(-1)).toMatch(/^Total reclaimed space: (9\d|1\d\d)(\.\d+)?kB$/);
    expect((await ls()).stdout.trim()).toBe(up);
    // box info counts what is left, in docker info's words.
    const info = expectOk(await h.box("info")).stdout;
    expect(info).toMatch(/^Containers: 1\n Running: 1\n Paused: 0\n Stopped: 0\nImages: 1\n/);
    expect(info).toMatch(new RegExp(`^Cgroup Version: ${existsSync("/sys/fs/cgroup/cgroup.controllers") ? 2 : 1}$`, "m"));
    expect(expectOk(await h.box("info", "--format", "{{.ContainersRunning}} {{.Driver}} {{.DockerRootDir}}")).stdout).toBe(`1 overlay2 ${h.root}\n`);
    const bad = expectCode(await h.box("container", "frob"), 125);
    expect(bad.stderr).toMatch(/'box container frob' is not a box command/);
    expectOk(await h.box("container", "rm", "-f", "up"));
    expectClean();
  });
});

describe("box attach", () => {
  it("attaches to run -dit, passes input, and detaches with Ctrl-P Ctrl-Q leaving it running", async () => {
    await runD("-it", "--name", "term", "busybox", "sh");
    const r = await askThenDetach(spawn(binPath("box"), ["attach", "term"], { env: h.env, stdio: ["pipe", "pipe", "pipe"] }), ["box", "attach", "term"], 0);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("42-answer");
    expect(r.stderr).toContain("read escape sequence");
    expect((await inspect("term")).State.Running).toBe(true);
    expect(expectOk(await h.box("logs", "term")).stdout).toContain("42-answer");
    expectOk(await h.box("rm", "-f", "term"));

    await runD("-i", "--name", "reader", "busybox", "sh", "-c", "read x; echo got $x; echo done >&2; exit 4");
    const a = expectCode(await h.box("attach", "reader", { input: "abc\n" }), 4);
    expect(a.stdout).toBe("got abc\n");
    expect(a.stderr).toBe("done\n");
    expectOk(await h.box("rm", "reader"));
    expectClean();
  });
});

describe("box start -a, -i", () => {
  it("start -a gets the output from its first byte, stdout and stderr apart, and exits with the command's code", async () => {
    expectOk(await h.box("create", "--name", "att", "--network", "none", "busybox", "sh", "-c", "echo first; echo err >&2; echo last; exit 3"));
    for (const flag of ["-a", "--attach"]) {
      const r = expectCode(await h.box("start", flag, "att"), 3);
      expect(r.stdout).toBe("first\nlast\n");
      expect(r.stderr).toBe("err\n");
    }
    // The log has both runs: the attach took nothing from it.
    expect(expectOk(await h.box("logs", "att")).stdout).toBe("first\nlast\nfirst\nlast\n");
    expect((await inspect("att")).State).toMatchObject({ Status: "exited", ExitCode: 3 });
    expectOk(await h.box("rm", "att"));
    expectClean();
  });

  it("start -a forwards the signals it gets to the container", async () => {
    expectOk(await h.box("create", "--name", "sig", "--network", "none", "busybox", "sh", "-c", "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done"));
    const r = await new Promise<RunResult>((resolve) => {
      const child = spawn(binPath("box"), ["start", "-a", "sig"], { env: h.env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
        if (out === "ready\n") child.kill("SIGTERM");
      });
      child.stderr.on("data", (d) => (err += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ command: ["box", "start", "-a", "sig"], code, signal, stdout: out, stderr: err, timedOut: false, ms: 0 });
      });
    });
    expect(r.code, r.stdout + r.stderr).toBe(9);
    expect(r.stdout).toBe("ready\ngot-term\n");
    expectOk(await h.box("rm", "sig"));
    expectClean();
  });

  it("start -ai passes stdin through, and the end of ours ends the container's", async () => {
    expectOk(await h.box("create", "-i", "--name", "cat", "--network", "none", "busybox", "sh", "-c", "cat; echo eof; exit 5"));
    const r = expectCode(await h.box("start", "-ai", "cat", { input: "hello\nworld\n" }), 5);
    expect(r.stdout).toBe("hello\nworld\neof\n");
    // Again: a fresh stdin for the new run.
    expect(expectCode(await h.box("start", "-i", "cat", { input: "again\n" }), 5).stdout).toBe("again\neof\n");
    expectOk(await h.box("rm", "cat"));
    expectClean();
  });

  it("start -a of a container created with -t gives it a terminal", async () => {
    expectOk(await h.box("create", "-t", "--name", "ttystart", "--network", "none", "busybox", "sh", "-c", "test -t 0 && echo IN-TTY; test -t 1 && echo OUT-TTY; exit 2"));
    const r = spawnSync("script", ["-qec", `${binPath("box")} start -a ttystart`, "/dev/null"], { env: h.env, encoding: "utf8", input: "", timeout: 30_000 });
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stdout.replace(/\r/g, "").split("\n").slice(0, 2)).toEqual(["IN-TTY", "OUT-TTY"]);
    expectOk(await h.box("rm", "ttystart"));
    expectClean();
  });

  it("start -ai of a -it container: input reaches its terminal, Ctrl-P Ctrl-Q detaches and leaves it running", async () => {
    expectOk(await h.box("create", "-it", "--name", "shell", "--network", "none", "busybox", "sh"));
    const cmd = `${binPath("box")} start -ai shell`;
    // Typed once the terminal is up; the echoed line holds "$((6*7))-answer", the shell's answer "42-answer".
    const r = await askThenDetach(spawn("script", ["-qec", cmd, "/dev/null"], { env: h.env, stdio: ["pipe", "pipe", "pipe"] }), ["script", "-qec", cmd], 300);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("42-answer");
    expect(r.stdout).toContain("read escape sequence");
    expect((await inspect("shell")).State.Running).toBe(true);
    expectOk(await h.box("rm", "-f", "shell"));
    expectClean();
  });

  it("refuses -a with several containers, as Docker, and starts none", async () => {
    expectOk(await h.box("create", "--name", "one", "busybox", "true"));
    expectOk(await h.box("create", "--name", "two", "busybox", "true"));
    const r = expectCode(await h.box("start", "-a", "one", "two"), 1);
    expect(r.stderr.trim()).toBe("box: you cannot start and attach multiple containers at once");
    expect(expectOk(await h.box("ps", "-a", "--format", "{{.Status}}")).stdout).toBe("Created\nCreated\n");
    expect(expectOk(await h.box("start", "--help")).stdout).toMatch(/^Usage:  box start \[OPTIONS\] CONTAINER/);
    expectOk(await h.box("rm", "one", "two"));
    expectClean();
  });
});

describe("box exec -d", () => {
  it("returns at once with nothing printed; the command runs on in the container's namespaces and cgroup, reaped from outside", async () => {
    await runD("--name", "bg", "--network", "none", "busybox", "sleep", "300");
    const t0 = Date.now();
    const r = expectOk(await h.box("exec", "-d", "bg", "sh", "-c", "sleep 1; echo done > /x"));
    const took = Date.now() - t0;
    expect(r.stdout + r.stderr).toBe("");
    expect(took).toBeLessThan(1000);
    // Not yet written: box exec -d did not wait for it.
    expectCode(await h.box("exec", "bg", "test", "-e", "/x"), 1);
    await until("the background command to write /x", async () => (await h.box("exec", "bg", "cat", "/x")).stdout === "done\n");

    const probe = "for n in pid mnt net uts ipc; do readlink /proc/$$/ns/$n; done > /ns; cat /proc/$$/cgroup > /cg; exec sleep 1000";
    expectOk(await h.box("exec", "-d", "bg", "sh", "-c", probe));
    await until("the probe", async () => (await h.box("exec", "bg", "test", "-s", "/cg")).code === 0);
    const pid1 = expectOk(await h.box("exec", "bg", "sh", "-c", "for n in pid mnt net uts ipc; do readlink /proc/1/ns/$n; done; cat /proc/1/cgroup")).stdout;
    expect(expectOk(await h.box("exec", "bg", "sh", "-c", "cat /ns /cg")).stdout).toBe(pid1);
    // Its parent is ns-init, outside the container's PID namespace (ppid 0 inside), not box exec.
    const ps = expectOk(await h.box("exec", "bg", "ps", "-o", "ppid,args")).stdout;
    expect(ps).toMatch(/^\s*0 sleep 1000$/m);
    // A finished command leaves no zombie, though PID 1 (sleep) reaps nothing: ns-init reaps it.
    for (let i = 0; i < 3; i++) expectOk(await h.box("exec", "-d", "bg", "true"));
    await until("no zombie", async () => !/\bZ\b/.test(expectOk(await h.box("exec", "bg", "ps", "-o", "stat,args")).stdout));
    expect(expectOk(await h.box("exec", "bg", "ps", "-o", "pid,args")).stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/).slice(1).join(" "))).toEqual([
      "sleep 300",
      "sleep 1000",
      "ps -o pid,args",
    ]);
    // rm -f takes it down with the container: expectClean finds any process left in its root.
    expectOk(await h.box("rm", "-f", "bg"));
    await until("no leaks", () => formatLeaks(leaks(h)) === "");
    expectClean();
  });

  it("-dt gives the command a terminal of the container's devpts that outlives box exec", async () => {
    await runD("--name", "bgt", "--network", "none", "busybox", "sleep", "300");
    // The command writes to its terminal after box exec has returned: the terminal must still be there.
    expectOk(await h.box("exec", "-dt", "bgt", "sh", "-c", "sleep 0.5; tty > /t; echo written; test -t 0 && test -t 1 && echo ok >> /t"));
    await until("the command to finish", async () => (await h.box("exec", "bgt", "cat", "/t")).stdout.includes("ok"));
    expect(expectOk(await h.box("exec", "bgt", "cat", "/t")).stdout).toMatch(/^\/dev\/pts\/\d+\nok\n$/);
    // Nothing waits on it now: no ns-init of this container is left on the host.
    await until("its ns-init to go", () => !hostCmdlines().some((c) => c.startsWith("ns-init\0") && c.includes("sh\0-c\0sleep 0.5")));
    expectOk(await h.box("rm", "-f", "bgt"));
    expectClean();
  });

  it("refuses a stopped container in one line", async () => {
    await runD("--name", "gone", "--network", "none", "busybox", "true");
    expectOk(await h.box("wait", "gone"));
    const r = expectCode(await h.box("exec", "-d", "gone", "true"), 1);
    expect(r.stderr.trim()).toMatch(/^box: container [0-9a-f]{64} is not running$/);
    expect(expectOk(await h.box("exec", "--help")).stdout).toMatch(/^Usage:  box exec \[OPTIONS\] CONTAINER COMMAND/);
    expectOk(await h.box("rm", "gone"));
    expectClean();
  });
});

describe("the monitor", () => {
  it("the container outlives box; a SIGKILLed monitor leaves an honest state, and rm -f cleans everything", async () => {
    const id = await runD("--name", "orphan", "busybox", "sleep", "300");
    const rt = runtime(id);
    expect(alive(rt.MonitorPid)).toBe(true);
    process.kill(rt.MonitorPid, "SIGKILL");
    await until("the monitor to die", () => !alive(rt.MonitorPid));
    let s = await inspect("orphan");
    expect(s.State.Running).toBe(true);
    expect(s.State.Error).toMatch(/box-monitor .* is gone/);
    process.kill(s.State.Pid, "SIGKILL");
    await until("the container to die", () => !alive(s.State.Pid));
    s = await inspect("orphan");
    expect(s.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 255 });
    expect(s.State.Error).toMatch(/exit status is unknown/);
    expect(expectOk(await h.box("ps", "-a")).stdout).toMatch(/Exited \(255\) \(exit status unknown\)\s+orphan/);

    // rm -f with the monitor gone and the container still running.
    const id2 = await runD("--name", "orphan2", "busybox", "sleep", "300");
    process.kill(runtime(id2).MonitorPid, "SIGKILL");
    expectOk(await h.box("rm", "-f", "orphan", "orphan2"));
    await until("no leaks", () => formatLeaks(leaks(h)) === "");
    expectClean();
  });

  it("box create records a container that box start runs; with --rm it goes once it exits", async () => {
    const id = expectOk(await h.box("create", "--name", "made", "busybox", "sh", "-c", "echo made; exit 3")).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(expectOk(await h.box("ps", "-a", "--filter", "name=made", "--format", "{{.Status}}")).stdout.trim()).toBe("Created");
    // Nothing runs yet: no monitor, no cgroup, no process, no mount; only its state.
    expect(formatLeaks(leaks(h).filter((l) => l.kind !== "state"))).toBe("");
    expect(expectOk(await h.box("start", "made")).stdout.trim()).toBe("made");
    expect(expectOk(await h.box("wait", "made")).stdout.trim()).toBe("3");
    expect(expectOk(await h.box("logs", "made")).stdout).toBe("made\n");
    expectOk(await h.box("rm", "made"));
    const rm = expectOk(await h.box("create", "--rm", "busybox", "true")).stdout.trim();
    expectOk(await h.box("start", rm));
    await until("the --rm container to go", () => !containers().includes(rm));
    const bad = expectCode(await h.box("create", "-d", "busybox"), 125);
    expect(bad.stderr).toMatch(/unknown flag: --detach/);
    expectClean();
  });

  it("20 concurrent run -d / rm -f pairs leave nothing behind", async () => {
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const r = await h.box("run", "-d", "--name", `pair${i}`, "busybox", "sleep", "300", { timeoutMs: 50_000 });
        expectOk(r, `run pair${i}`);
        expectOk(await h.box("rm", "-f", `pair${i}`, { timeoutMs: 50_000 }), `rm pair${i}`);
      }),
    );
    await until("no leaks", () => formatLeaks(leaks(h)) === "");
    expectClean();
  });

  it("concurrent rm -f and stop of one container do not corrupt it", async () => {
    await runD("--name", "contended", "busybox", "sleep", "300");
    const [stop, rm] = await Promise.all([h.box("stop", "-t", "1", "contended"), h.box("rm", "-f", "contended")]);
    expect(rm.code).toBe(0);
    // stop either won the lock first or found the container gone.
    expect(stop.code === 0 || /No such container/.test(stop.stderr)).toBe(true);
    expectClean();
  });

  it("costs little host memory per detached container (RSS of its helper processes)", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await runD("busybox", "sleep", "300"));
    let total = 0;
    for (const id of ids) {
      const mon = runtime(id).MonitorPid;
      // Everything box keeps alive for the container: the monitor, and nothing else (the start stage has exited).
      const kids = readFileSync(`/proc/${mon}/task/${mon}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      expect(kids).toEqual([runtime(id).Pid]);
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${mon}/status`, "utf8"))![1]);
      total += rss;
    }
    const perContainer = total / ids.length;
    console.log(`box-monitor RSS: ${perContainer.toFixed(0)} kB per detached container (${ids.length} containers, ${total} kB in all)`);
    expect(perContainer).toBeLessThan(5 * 1024);
    expectOk(await h.box("rm", "-f", ...ids));
    expectClean();
  });
});
