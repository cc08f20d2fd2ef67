// box run end to end: image store -> overlay -> namespaces, against the real
// kernel, with Docker's exit codes and nothing left behind.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, expectCode, expectOk, harness, importBusybox, leaks, formatLeaks, type Harness, type Leak } from "./lib/harness.js";

let h: Harness;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
});

afterAll(async () => {
  await h?.cleanup();
});

const containers = () => (existsSync(join(h.root, "containers")) ? readdirSync(join(h.root, "containers")) : []);

/** No mount, process or container state of this harness is left. */
function expectClean(): void {
  expect(formatLeaks(leaks(h))).toBe("");
  expect(containers()).toEqual([]);
}

describe("box run", () => {
  it("runs the image's command as PID 1 with the container id as hostname", async () => {
    const r = expectOk(await h.box("run", "--rm", "busybox", "sh", "-c", "echo $$; hostname; ps -o pid,comm; true"));
    const [pid, hostname, ...ps] = r.stdout.trim().split("\n");
    expect(pid).toBe("1");
    expect(hostname).toMatch(/^[0-9a-f]{12}$/);
    expect(ps.slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(["sh", "ps"]);
    expectClean();
  });

  it("uses the image's Cmd when none is given", async () => {
    const r = expectOk(await h.box("run", "--rm", "-i", "busybox", { input: "echo from-stdin\n" }));
    expect(r.stdout).toBe("from-stdin\n");
  });

  it("copies on write: a container's writes reach neither the image nor the next container", async () => {
    expectOk(await h.box("run", "--rm", "busybox", "sh", "-c", "echo x > /bin/added; rm /bin/ls; echo changed > /etc/passwd"));
    const r = expectOk(await h.box("run", "--rm", "busybox", "sh", "-c", "ls /bin/added 2>&1; ls /bin/ls; head -c 5 /etc/passwd"));
    expect(r.stdout).toContain("No such file");
    expect(r.stdout).toContain("/bin/ls");
    expect(r.stdout).toContain("root:");
    const layers = expectOk(await h.tool("mkroot", "layers", "busybox")).stdout.trim().split("\n");
    for (const l of layers) expect(existsSync(join(l, "bin", "added"))).toBe(false);
    expectClean();
  });

  it("mounts volumes, and a read-only volume refuses writes", async () => {
    const vol = join(h.root, "vol");
    mkdirSync(vol);
    writeFileSync(join(vol, "in"), "hello\n");
    const r = await h.box("run", "--rm", "-v", `${vol}:/data:ro`, "busybox", "sh", "-c", "cat /data/in; echo x > /data/out");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("hello\n");
    expect(r.stderr).toMatch(/Read-only file system/);
    expectOk(await h.box("run", "--rm", "-v", `${vol}:/data`, "busybox", "sh", "-c", "echo x > /data/out"));
    expect(existsSync(join(vol, "out"))).toBe(true);
    expectClean();
  });

  it("passes exit codes through as Docker: 0, 7, 127, 126, 137", async () => {
    expectCode(await h.box("run", "--rm", "busybox", "true"), 0);
    expectCode(await h.box("run", "--rm", "busybox", "sh", "-c", "exit 7"), 7);
    expectCode(await h.box("run", "--rm", "busybox", "no-such-command"), 127);
    expectCode(await h.box("run", "--rm", "busybox", "/etc/passwd"), 126);
    const child = spawn(binPath("box"), ["run", "--rm", "--name", "victim", "busybox", "sleep", "30"], { env: h.env, stdio: "ignore" });
    let pid: number | undefined;
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 50));
      // box's child that runs sleep: ns-init after its exec (box also runs ip and nft briefly).
      const kids = spawnSync("pgrep", ["-P", String(child.pid), "-x", "sleep"], { encoding: "utf8" }).stdout.trim();
      pid = kids ? Number(kids.split("\n")[0]) : undefined;
    }
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGKILL");
    expect(await new Promise((r) => child.on("exit", (c) => r(c)))).toBe(137);
    expectClean();
  });

  it("applies Docker's defaults: capabilities, masked and read-only /proc paths, a minimal /dev", async () => {
    const r = expectOk(
      await h.box("run", "--rm", "busybox", "sh", "-c",
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status; wc -c </proc/keys; (echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null || echo RO; ls /dev | tr '\\n' ' '"),
    );
    expect(r.stdout).toBe(
      "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n0\nRO\ncore fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ",
    );
  });

  it("follows -e, --env-file, -w, -u, -h, --entrypoint and --read-only", async () => {
    const envFile = join(h.root, "env.list");
    writeFileSync(envFile, "# comment\nFROM_FILE=yes\n");
    const r = expectOk(
      await h.box("run", "--rm", "-e", "A=1", "--env-file", envFile, "-w", "/tmp", "-u", "app", "-h", "myhost", "--read-only",
        "--entrypoint", "sh", "busybox", "-c", "echo $A $FROM_FILE; pwd; id -u; hostname; touch /x 2>/dev/null || echo RO"),
    );
    expect(r.stdout).toBe("1 yes\n/tmp\n1000\nmyhost\nRO\n");
  });

  it("keeps its mounts out of a host whose / is shared (systemd's default): nothing propagates back", async () => {
    // A mount namespace of the test's own, with / shared as on a systemd host.
    const script = `${binPath("box")} run --rm --network none busybox true && echo ran; grep -c ' ${h.root}/' /proc/self/mountinfo || true`;
    const r = expectOk(await h.run(["unshare", "-m", "--propagation", "shared", "sh", "-c", script]));
    expect(r.stdout).toBe("ran\n0\n");
    expect(r.stderr).toBe("");
  });

  it("gives -t a terminal", async () => {
    const r = spawnSync("script", ["-qec", `${binPath("box")} run --rm -t busybox sh -c 'test -t 1 && echo TTY; echo $TERM; tty; stat -c %t:%T /dev/console'`, "/dev/null"], {
      env: h.env,
      encoding: "utf8",
    });
    expect(r.status, r.stdout).toBe(0);
    // The container's own /dev/pts/0, which is also /dev/console (136:0), as with Docker.
    expect(r.stdout.replace(/\r/g, "")).toMatch(/TTY\nxterm\n\/dev\/pts\/0\n88:0\n/);
  });

  it("keeps an exited container without --rm, and box rm removes it", async () => {
    expectCode(await h.box("run", "--name", "kept", "busybox", "sh", "-c", "exit 3"), 3);
    const ps = expectOk(await h.box("ps", "-a"));
    expect(ps.stdout).toMatch(/kept/);
    expect(ps.stdout).toMatch(/Exited \(3\)/);
    expectOk(await h.box("rm", "kept"));
    expectClean();
  });

  it("--explain prints a pipeline of the tools that gives the same container", async () => {
    const probe = ["sh", "-c", "hostname; id; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; env | sort; cut -d' ' -f5 /proc/self/mountinfo | sort; ls /; grep -q '/box[^/]*/[0-9a-f]\\{64\\}$' /proc/self/cgroup && echo IN-CGROUP"];
    const ex = expectOk(await h.box("run", "--rm", "--explain", "-e", "X=1", "--read-only", "--tmpfs", "/scratch", "-m", "64m", "busybox", ...probe));
    expect(ex.stdout).toMatch(/mkroot layers busybox/);
    expect(ex.stdout).toMatch(/cgset create --memory=64m --devices default box[^ ]*\/[0-9a-f]{64}/);
    expect(ex.stdout).toMatch(/ovl-mount/);
    expect(ex.stdout).toMatch(/ns-exec /);
    const id = /containers\/([0-9a-f]{64})/.exec(ex.stdout)![1]!;
    const viaPipeline = expectOk(await h.run(["sh", "-c", ex.stdout]));
    expect(containers()).toEqual([]);
    const viaBox = expectOk(await h.box("run", "--rm", "-h", id.slice(0, 12), "-e", "X=1", "--read-only", "--tmpfs", "/scratch", "-m", "64m", "busybox", ...probe));
    expect(viaPipeline.stdout).toBe(viaBox.stdout);
    expect(viaBox.stdout).toContain("IN-CGROUP");
    expect(viaBox.stdout).toContain("X=1");
    expectClean();
  });

  it("refuses a second container with a name in use, racing or not", async () => {
    const runs = await Promise.all([1, 2, 3].map(() => h.box("run", "--name", "racer", "busybox", "true")));
    expect(runs.map((r) => r.code).sort()).toEqual([0, 125, 125]);
    for (const r of runs.filter((x) => x.code === 125)) expect(r.stderr).toMatch(/Conflict. The container name "\/racer" is already in use/);
    expectOk(await h.box("rm", "racer"));
    expectClean();
  });

  it("says what is wrong, exits 125 and leaves nothing for bad input", async () => {
    const cases: [string[], RegExp][] = [
      [["run", "--rm", "--pull", "never", "nosuchimage"], /^box: Unable to find image 'nosuchimage:latest' locally$/],
      // Docker's default --pull missing: it says so, tries the registry, and names why that failed.
      [["run", "--rm", "127.0.0.1:1/nosuch"], /^Unable to find image '127\.0\.0\.1:1\/nosuch:latest' locally\n(.*\n)*box: pull 127\.0\.0\.1:1\/nosuch: .*connection refused/],
      [["run", "--rm", "--pull", "sometimes", "busybox"], /^box: invalid pull option: 'sometimes': must be one of "always", "missing" or "never"$/],
      [["run", "--rm", "--bogus", "busybox"], /^box: unknown flag: --bogus\nSee 'box run --help'.$/],
      [["run", "--rm", "-v", "/nonexistent-source:/x", "busybox", "true"], /^box: invalid volume: bind source path does not exist: \/nonexistent-source$/],
      [["run", "--rm", "--network", "nonet", "busybox", "true"], /network nonet not found/],
      [["run", "--rm", "-w", "relative", "busybox", "true"], /working directory 'relative' is invalid/],
      [["run"], /requires at least 1 argument/],
      [["run", "--rm", "--name", "bad name!", "busybox"], /Invalid container name/],
    ];
    for (const [args, re] of cases) {
      const r = expectCode(await h.box(...args), 125, args.join(" "));
      expect(r.stderr.trim()).toMatch(re);
    }
    expectClean();
  });

  it("a rootfs without the command gives 127 and leaves nothing", async () => {
    const empty = join(h.root, "empty.tar");
    expectOk(await h.run(["tar", "-cf", empty, "-T", "/dev/null"]));
    expectOk(await h.tool("mkroot", "import", "--change", 'CMD ["/bin/sh"]', "empty:1", empty));
    const r = expectCode(await h.box("run", "--rm", "empty:1"), 127);
    expect(r.stderr).toMatch(/exec \/bin\/sh: ENOENT/);
    expectClean();
  });

  it("a box run killed with SIGKILL at any stage leaves no mount or process, and box rm cleans its state", async () => {
    for (const delay of [0, 20, 60, 120, 250, 500]) {
      const child = spawn(binPath("box"), ["run", "--name", `killed${delay}`, "busybox", "sleep", "30"], { env: h.env, stdio: "ignore" });
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await new Promise((r) => child.on("exit", r));
      // The container dies with box (PR_SET_PDEATHSIG): wait for it.
      for (let i = 0; i < 250 && leaks(h).some((l) => l.kind === "process"); i++) await new Promise((r) => setTimeout(r, 20));
      // The network endpoint (its netns file and veth) and the (empty) cgroup, like the state,
      // wait for box rm (or netns-bridge gc); expectClean below checks that rm took them all.
      const endpoint = (l: Leak) => l.kind === "link" || (l.kind === "mount" && l.what.startsWith(join(h.runDir, "netns")));
      const emptyCgroup = (l: Leak) => l.kind === "cgroup" && l.detail === "empty";
      expect(formatLeaks(leaks(h).filter((l) => l.kind !== "state" && !endpoint(l) && !emptyCgroup(l))), `killed after ${delay} ms`).toBe("");
      const ps = expectOk(await h.box("ps", "-a", "-q", "--no-trunc"));
      for (const id of ps.stdout.trim().split("\n").filter(Boolean)) expectOk(await h.box("rm", "-f", id));
      const names = existsSync(join(h.root, "names")) ? readdirSync(join(h.root, "names")) : [];
      expect(names).toEqual([]);
    }
    expectClean();
  });
});
