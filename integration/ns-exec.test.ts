// ns-exec against the real kernel: namespaces, pivot_root, exit codes,
// signals, fds, terminals and user namespaces, on a plain busybox rootfs.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, busyboxTar, expectCode, expectOk, harness, type Harness } from "./lib/harness.js";

let h: Harness;
let rootfs: string;
const NS = ["--pid", "--mount", "--uts", "--ipc", "--net"];
const nsx = (...args: string[]) => h.tool("ns-exec", ...NS, "--root", rootfs, ...args);

beforeAll(async () => {
  h = await harness();
  rootfs = join(h.root, "rootfs");
  mkdirSync(rootfs);
  const tar = await busyboxTar();
  expectOk(await h.run(["tar", "-xf", tar, "-C", rootfs]), "unpack busybox");
});

afterAll(async () => {
  await h?.cleanup();
});

describe("ns-exec", () => {
  it("runs the command as PID 1 with its own hostname", async () => {
    const r = expectOk(await nsx("--hostname", "inside", "--", "sh", "-c", "echo $$; hostname; cat /etc/hostname"));
    expect(r.stdout).toBe("1\ninside\ninside\n");
  });

  it("hides the host's root and processes", async () => {
    writeFileSync(join(h.root, "host-marker"), "x");
    const r = expectOk(await nsx("--", "sh", "-c", "ls /; echo ---; ps -o pid,comm; echo ---; ls /proc | grep -c '^[0-9]'"));
    const [ls, ps, count] = r.stdout.split("---\n");
    expect(ls).not.toContain("host-marker");
    expect(ls).toContain("bin");
    expect(ps!.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(["sh", "ps"]);
    expect(Number(count)).toBeLessThanOrEqual(3);
  });

  it("leaves no way back to the old root", async () => {
    const r = expectOk(await nsx("--", "sh", "-c", "cat /proc/self/mountinfo; ls -a /"));
    const [mountinfo, ls] = r.stdout.split(/\n(?=\.\n)/);
    // Field 5 is the mount point: every one must be the new root or inside it.
    const points = mountinfo!.trim().split("\n").map((l) => l.split(" ")[4]);
    expect(points[0]).toBe("/");
    for (const p of points) expect(p).toMatch(/^\/(proc|sys|dev|etc)?(\/|$)/);
    expect(ls).not.toMatch(/old|host/);
  });

  it("passes exit codes through: 0, 7, 127, 126", async () => {
    expectCode(await nsx("--", "true"), 0);
    expectCode(await nsx("--", "sh", "-c", "exit 7"), 7);
    const nf = expectCode(await nsx("--", "no-such-command"), 127);
    expect(nf.stderr).toMatch(/^ns-exec: exec no-such-command: ENOENT/);
    const ne = expectCode(await nsx("--", "/etc/passwd"), 126);
    expect(ne.stderr).toMatch(/EACCES/);
  });

  it("reports 128+9 when the container is SIGKILLed", async () => {
    const child = spawn(binPath("ns-exec"), [...NS, "--root", rootfs, "--", "sh", "-c", "echo ready; exec sleep 30"], { env: h.env, stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((r) => child.stdout!.once("data", () => r()));
    const kids = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    expect(kids.length).toBe(1);
    process.kill(Number(kids[0]), "SIGKILL");
    const code = await new Promise((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(137);
  });

  it("forwards SIGTERM to the container", async () => {
    const child = spawn(binPath("ns-exec"), [...NS, "--root", rootfs, "--", "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"], {
      env: h.env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((r) => child.stdout!.once("data", () => r()));
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(42);
  });

  it("--init reaps and forwards signals for a command that handles none", async () => {
    const child = spawn(binPath("ns-exec"), [...NS, "--root", rootfs, "--init", "--", "sh", "-c", "echo ready; exec sleep 30"], {
      env: h.env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((r) => child.stdout!.once("data", () => r()));
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(143);
  });

  it("lets no fd of the host into the container", async () => {
    const r = spawnSync(binPath("ns-exec"), [...NS, "--root", rootfs, "--", "sh", "-c", "ls /proc/$$/fd; :"], {
      env: h.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe", "pipe"],
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split(/\s+/).sort()).toEqual(["0", "1", "2"]);
  });

  it("gives a shell a real terminal with -t", async () => {
    const cmd = `${binPath("ns-exec")} ${NS.join(" ")} --root ${rootfs} -t -- sh -c 'tty; [ -t 0 ] && echo STDIN-IS-TTY; echo $TERM'`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { env: h.env, encoding: "utf8", input: "" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // A pty of the container's own devpts, as Docker gives: tty names it, and it is /dev/console too.
    expect(r.stdout).toMatch(/\/dev\/pts\/0\r*$/m);
    expect(r.stdout).toContain("STDIN-IS-TTY");
    expect(r.stdout).toContain("xterm");
  });

  it("Ctrl-C on the terminal reaches the container, not ns-exec", async () => {
    const session = `nsx-${process.pid}`;
    const tmux = (...a: string[]) => spawnSync("tmux", a, { encoding: "utf8", env: h.env });
    const shell = `${binPath("ns-exec")} ${NS.join(" ")} --root ${rootfs} -t -- sh; echo NSEXEC-EXIT=$?; sleep 30`;
    expect(tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", shell).status).toBe(0);
    try {
      const screen = () => tmux("capture-pane", "-p", "-t", session).stdout;
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 100 && !re.test(screen()); i++) await new Promise((r) => setTimeout(r, 100));
        return screen();
      };
      await waitFor(/# $/m);
      tmux("send-keys", "-t", session, "stty size; sleep 20", "Enter");
      await waitFor(/^30 100$/m);
      await new Promise((r) => setTimeout(r, 300));
      tmux("send-keys", "-t", session, "C-c");
      tmux("send-keys", "-t", session, "echo after=$?", "Enter");
      expect(await waitFor(/after=130/)).toMatch(/after=130/);
      tmux("send-keys", "-t", session, "exit 3", "Enter");
      expect(await waitFor(/NSEXEC-EXIT=3/)).toMatch(/NSEXEC-EXIT=3/);
    } finally {
      tmux("kill-session", "-t", session);
    }
  });

  it("maps root to an unprivileged uid with --user", async () => {
    // The mapped root is uid 100000 on the host: it must be able to reach the rootfs.
    chmodSync(join(h.root, ".."), 0o711);
    chmodSync(h.root, 0o711);
    const r = expectOk(
      await h.tool("ns-exec", "--user", "--uid-map", "0:100000:65536", ...NS, "--root", rootfs, "--", "sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox"),
    );
    const [uid, map, owner] = r.stdout.trim().split("\n");
    expect(uid).toBe("0");
    expect(map!.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    expect(owner).toBe("65534");
  });

  it("runs as a user from the image's passwd, with its groups", async () => {
    const r = expectOk(await nsx("--setuid", "app", "--", "sh", "-c", "id -u; id -g; id -G; echo $HOME"));
    expect(r.stdout).toBe("1000\n1000\n1000 50\n/home/app\n");
  });

  it("refuses writes to a read-only root and a read-only bind", async () => {
    const vol = join(h.root, "vol");
    mkdirSync(vol);
    const r = await nsx("--read-only", "--bind", `${vol}:/data:ro`, "--tmpfs", "/scratch", "--", "sh", "-c",
      "touch /x 2>/dev/null && echo ROOT-WRITABLE; touch /data/x 2>/dev/null && echo VOL-WRITABLE; touch /scratch/x && echo TMPFS-OK");
    expectOk(r);
    expect(r.stdout).toBe("TMPFS-OK\n");
  });

  it("sets rlimits, no_new_privs, capabilities and masked paths", async () => {
    const r = expectOk(
      await nsx("--rlimit", "nofile=123:456", "--no-new-privileges", "--caps", "a80425fb", "--mask", "/proc/keys", "--ro-path", "/proc/sys", "--",
        "sh", "-c", "ulimit -n; ulimit -Hn; grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status; wc -c </proc/keys; echo 1 >/proc/sys/kernel/ostype 2>/dev/null || echo RO"),
    );
    expect(r.stdout).toBe("123\n456\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n0\nRO\n");
  });

  it("says what is wrong with bad input, with exit 2 for usage and 1 for failure", async () => {
    const u = expectCode(await h.tool("ns-exec", "--bogus", "true"), 2);
    expect(u.stderr).toBe("ns-exec: unknown option '--bogus'\nTry 'ns-exec --help' for more information.\n");
    const f = expectCode(await h.tool("ns-exec", ...NS, "--root", "/nonexistent-root", "--", "true"), 1);
    expect(f.stderr.trim().split("\n")).toHaveLength(1);
    expect(f.stderr).toMatch(/\/nonexistent-root.*ENOENT/);
    const b = expectCode(await nsx("--bind", "/nonexistent-src:/x", "--", "true"), 1);
    expect(b.stderr).toMatch(/bind source \/nonexistent-src.*ENOENT/);
  });

  it("prints --help on stdout", async () => {
    const r = expectOk(await h.tool("ns-exec", "--help"));
    expect(r.stdout).toMatch(/^Usage: ns-exec/);
  });
});
