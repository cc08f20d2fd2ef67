// Docker's default hardening and the known runtime escapes, against the real
// kernel. Each escape test is named after the CVE it recreates. Containers
// run the static probe (integration/probe/probe.c), which makes one raw
// system call per word and prints NAME=OK or NAME=ERRNO.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, expectCode, expectOk, formatLeaks, formatResult, harness, leaks, repoRoot, type Harness, type RunResult } from "./lib/harness.js";
import { importImage, results } from "./lib/images.js";

let h: Harness;

beforeAll(async () => {
  h = await harness();
  await importImage(h, "probe");
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
});

const probe = async (flags: string[], ...words: string[]) => {
  const r = expectOk(await h.box("run", "--rm", "--network", "none", ...flags, "probe", "/probe", ...words));
  return results(r.stdout);
};

function expectClean(): void {
  expect(formatLeaks(leaks(h))).toBe("");
}

const BLOCKED = ["keyctl", "unshare", "mount", "swapon", "reboot", "init_module", "finit_module", "delete_module", "clone_newns", "clone_newuser", "personality_bsd", "socket_vsock"];

describe("seccomp: Docker's default profile", () => {
  it("puts every default container under a filter (Seccomp: 2), not --privileged or seccomp=unconfined ones", async () => {
    const field = async (...flags: string[]) =>
      expectOk(await h.box("run", "--rm", ...flags, "probe", "grep", "^Seccomp:", "/proc/self/status")).stdout.trim();
    expect(await field()).toBe("Seccomp:\t2");
    expect(await field("--security-opt", "seccomp=unconfined")).toBe("Seccomp:\t0");
    expect(await field("--privileged")).toBe("Seccomp:\t0");
    expect(await field("--security-opt", "seccomp=builtin", "--security-opt", "no-new-privileges")).toBe("Seccomp:\t2");
  });

  it("refuses keyring, namespace, mount, swap, reboot and module syscalls with EPERM, clone3 with ENOSYS", async () => {
    const r = await probe([], ...BLOCKED, "clone3", "open_tree_attr", "fork", "getpid", "socket_unix", "personality_query", "chroot");
    for (const s of BLOCKED) expect(r[s], s).toBe("EPERM");
    // Docker answers clone3 with ENOSYS so that libc falls back to clone;
    // syscalls newer than the profile get ENOSYS too (runc's rule).
    expect(r.clone3).toBe("ENOSYS");
    expect(r.open_tree_attr).toBe("ENOSYS");
    // chroot is allowed with SYS_CHROOT, one of Docker's default capabilities.
    for (const s of ["fork", "getpid", "socket_unix", "personality_query", "chroot"]) expect(r[s], s).toBe("OK");
  });

  it("seccomp=unconfined lifts the filter: the same calls reach the kernel", async () => {
    const r = await probe(["--security-opt", "seccomp=unconfined"], "keyctl", "personality_bsd", "socket_vsock", "clone3", "open_tree_attr", "swapon");
    expect(r.keyctl).not.toBe("EPERM");
    expect(r.personality_bsd).toBe("OK");
    expect(r.socket_vsock).not.toBe("EPERM");
    expect(r.clone3).toBe("EINVAL");
    expect(r.open_tree_attr).not.toBe("ENOSYS");
    // Without CAP_SYS_ADMIN the kernel itself still says no.
    expect(r.swapon).toBe("EPERM");
  });

  it("follows the container's capabilities as Docker's profile does", async () => {
    const admin = await probe(["--cap-add", "SYS_ADMIN"], "unshare", "mount", "clone3", "swapon");
    expect(admin.unshare).toBe("OK");
    expect(admin.mount).toBe("OK");
    expect(admin.clone3).toBe("EINVAL");
    expect(admin.swapon).toBe("EPERM"); // not in the profile, whatever the caps
    const open = await probe(["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"], "swapon");
    expect(open.swapon).toBe("ENOENT");
    const boot = await probe(["--cap-add", "SYS_BOOT"], "reboot");
    expect(boot.reboot).toBe("EINVAL"); // allowed through, refused for its bad magic
  });

  it("checks i386 and x32 system calls against their own tables, as Docker's archMap (getpid allowed)", async () => {
    const r = await probe([], "i386", "x32");
    expect(r.i386).toBe("OK");
    // ENOSYS where the kernel is built without x32 (this VM's): the filter let it through.
    expect(["OK", "ENOSYS"]).toContain(r.x32);
  });

  it("lets normal programs work: sh, ls, ps, busybox httpd and wget", async () => {
    const script = "ls / >/dev/null && ps >/dev/null && mkdir /www && echo served > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && wget -q -O- http://127.0.0.1:8080/";
    const r = expectOk(await h.box("run", "--rm", "--network", "none", "probe", "sh", "-c", script));
    expect(r.stdout).toBe("served\n");
  });

  it("--security-opt seccomp=PROFILE.json: a custom profile that denies mkdir makes mkdir fail with EPERM", async () => {
    const profile = join(h.root, "no-mkdir.json");
    writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }] }));
    const r = await h.box("run", "--rm", "--security-opt", `seccomp=${profile}`, "probe", "sh", "-c", "/probe mkdir keyctl; mkdir /x");
    expectCode(r, 1);
    expect(results(r.stdout)).toEqual({ mkdir: "EPERM", keyctl: "OK" });
    expect(r.stderr).toMatch(/Operation not permitted/);
    expectClean();
  });

  it("fails the run with 125, naming the file, when a profile cannot be read or compiled", async () => {
    const bad = join(h.root, "bad.json");
    writeFileSync(bad, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_FLY" }] }));
    const a = expectCode(await h.box("run", "--rm", "--security-opt", `seccomp=${bad}`, "probe", "true"), 125);
    expect(a.stderr).toMatch(/bad\.json: syscalls\[0\]: action: unknown action "SCMP_ACT_FLY"/);
    const b = expectCode(await h.box("run", "--rm", "--security-opt", `seccomp=${join(h.root, "none.json")}`, "probe", "true"), 125);
    expect(b.stderr).toMatch(/none\.json: ENOENT/);
    expectClean();
  });

  it("ns-exec --seccomp takes a JSON profile or a program from 'seccomp compile'", async () => {
    const rootfs = join(h.root, "nsroot");
    mkdirSync(rootfs);
    const layers = expectOk(await h.tool("mkroot", "layers", "probe")).stdout.trim().split("\n");
    for (const l of layers.reverse()) expectOk(await h.run(["cp", "-a", `${l}/.`, rootfs]));
    const bpf = join(h.root, "default.bpf");
    expectOk(await h.run(["sh", "-c", `'${binPath("seccomp")}' compile --caps a80425fb default > '${bpf}'`]));
    const nsx = (file: string) => h.tool("ns-exec", "--pid", "--mount", "--root", rootfs, "--caps", "a80425fb", "--seccomp", file, "--", "/probe", "keyctl", "getpid");
    expect(results(expectOk(await nsx(bpf)).stdout)).toEqual({ keyctl: "EPERM", getpid: "OK" });
    const json = join(repoRoot, "packages", "seccomp", "profiles", "default.json");
    expect(results(expectOk(await nsx(json)).stdout)).toEqual({ keyctl: "EPERM", getpid: "OK" });
    rmSync(rootfs, { recursive: true });
  });
});

describe("escapes that must fail", () => {
  it("CVE-2019-5736: a container cannot open /proc/PID/exe of ns-init (--init stays PID 1) to overwrite the host binary", async () => {
    const nsInit = join(repoRoot, "packages", "ns-exec", "dist", "ns-init");
    const before = createHash("sha256").update(readFileSync(nsInit)).digest("hex");
    const r = await probe(["--init"], "exe", "/proc/1/exe");
    // Non-dumpable until exec: not even an O_PATH handle to hold on to.
    expect(r.exe_read).toBe("EACCES");
    expect(r.exe_path).toBe("EACCES");
    expect(r.exe_write).toBeUndefined();
    expect(createHash("sha256").update(readFileSync(nsInit)).digest("hex")).toBe(before);
  });

  it("CVE-2024-21626: no host fd is open inside, and -w /proc/self/fd/N reaches nothing", async () => {
    // Hand box a host directory on fd 3, as a careless caller might.
    const fd = openSync(repoRoot, "r");
    try {
      const r = await new Promise<RunResult>((resolve) => {
        const c = spawn(binPath("box"), ["run", "--rm", "probe", "/probe", "fds"], { env: h.env, stdio: ["ignore", "pipe", "pipe", fd] });
        let stdout = "", stderr = "";
        c.stdout!.on("data", (d) => (stdout += d));
        c.stderr!.on("data", (d) => (stderr += d));
        c.on("close", (code, signal) => resolve({ command: ["box", "run", "probe", "/probe", "fds"], code, signal, stdout, stderr, timedOut: false, ms: 0 }));
      });
      expectOk(r);
      const fds = r.stdout.trim().split("\n").map((l) => Number(l.split(" ")[1]));
      expect(fds, formatResult(r)).toEqual([0, 1, 2]);
    } finally {
      closeSync(fd);
    }
    for (const n of [3, 4, 5, 6, 7, 8]) {
      const w = await h.box("run", "--rm", "-w", `/proc/self/fd/${n}`, "probe", "sh", "-c", "pwd; ls ..");
      expect(w.code, formatResult(w)).not.toBe(0);
    }
    expectClean();
  });

  it("CVE-2021-30465: a volume target that is a symlink in the image is resolved inside the rootfs", async () => {
    // The symlinks name a directory that exists both in the image and on
    // the host: followed on the host, the volume would cover the host's.
    const target = join(h.root, "victim");
    mkdirSync(target);
    writeFileSync(join(target, "host-file"), "host\n");
    await importImage(h, "volsym", (dir) => {
      mkdirSync(join(dir, target), { recursive: true });
      symlinkSync(target, join(dir, "vol"));
      symlinkSync(`../../../../../../..${target}`, join(dir, "vol2"));
      symlinkSync(`/box-escape-${h.id}`, join(dir, "dangling"));
    });
    const src = join(h.root, "volsrc");
    mkdirSync(src);
    writeFileSync(join(src, "file"), "in the volume\n");
    for (const dst of ["/vol", "/vol2"]) {
      const r = expectOk(await h.box("run", "--rm", "-v", `${src}:${dst}`, "volsym", "sh", "-c", `cat ${target}/file; ls ${target}`));
      expect(r.stdout).toBe("in the volume\nfile\n");
    }
    // A dangling one is refused rather than created outside.
    const d = expectCode(await h.box("run", "--rm", "-v", `${src}:/dangling`, "volsym", "true"), 125);
    expect(d.stderr).toMatch(/\/dangling: ENOENT/);
    expect(existsSync(`/box-escape-${h.id}`)).toBe(false);
    expect(readdirSync(target)).toEqual(["host-file"]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(target);
    expectOk(await h.tool("mkroot", "rm", "volsym"));
    expectClean();
  });

  it("CVE-2019-16884, CVE-2023-27561: an image whose /proc is a symlink is refused, not mounted through", async () => {
    await importImage(h, "procsym", (dir) => {
      rmSync(join(dir, "proc"), { recursive: true, force: true });
      symlinkSync("/", join(dir, "proc"));
    });
    const r = expectCode(await h.box("run", "--rm", "procsym", "true"), 125);
    expect(r.stderr).toMatch(/\/proc in the image must be a directory, not a symlink/);
    expectOk(await h.tool("mkroot", "rm", "procsym"));
    expectClean();
  });

  it("CVE-2023-27561 class: an image whose /dev (and /dev/shm) is a symlink to a host path gets nothing written there", async () => {
    const hostDir = join(h.root, "hostdev");
    mkdirSync(hostDir);
    await importImage(h, "devsym", (dir) => {
      rmSync(join(dir, "dev"), { recursive: true, force: true });
      mkdirSync(join(dir, hostDir), { recursive: true });
      symlinkSync(hostDir, join(dir, "dev"));
      symlinkSync("/", join(dir, hostDir, "shm"));
    });
    const r = expectOk(await h.box("run", "--rm", "devsym", "sh", "-c", "echo x > /dev/null && cat /proc/self/mountinfo"));
    // /dev is our tmpfs, mounted where the symlink leads inside the root, and shm is in it.
    expect(r.stdout).toContain(` ${hostDir} `);
    expect(r.stdout).toContain(` ${hostDir}/shm `);
    expect(readdirSync(hostDir)).toEqual([]);
    expectOk(await h.tool("mkroot", "rm", "devsym"));
    expectClean();
  });

  it("CVE-2025-31133, CVE-2025-52881: masked paths are covered by the real null device and an empty read-only tmpfs", async () => {
    const r = expectOk(await h.box("run", "--rm", "probe", "sh", "-c", "stat -c '%F %t:%T' /proc/timer_list; ls -A /sys/firmware | wc -l; echo x > /sys/firmware/y; true"));
    const [timerList, firmware] = r.stdout.trim().split("\n");
    expect(timerList).toBe("character special file 1:3");
    expect(firmware).toBe("0");
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it("CVE-2025-52565: /dev/console is the run's own terminal, whatever the image plants at /dev", async () => {
    // An image whose /dev/console and /dev/pts point at procfs files a
    // console bind would make writable (runc's bug bound over such targets).
    await importImage(h, "consym", (dir) => {
      rmSync(join(dir, "dev"), { recursive: true, force: true });
      mkdirSync(join(dir, "dev"));
      symlinkSync("/proc/sys/kernel/core_pattern", join(dir, "dev", "console"));
      symlinkSync("/proc/sys/kernel", join(dir, "dev", "pts"));
    });
    const check = "stat -c '%F %t' /dev/console; stat -c %F /proc/sys/kernel/core_pattern; grep -c ' /proc/sys ro,' /proc/self/mountinfo; [ -L /dev/console ] || echo not-a-link";
    const fg = expectOk(await h.run(["script", "-qec", `box run --rm -t --network none consym sh -c "${check}"`, "/dev/null"], { env: h.env }));
    const lines = (s: string) => s.replace(/\r/g, "").trim().split("\n");
    // A UNIX98 pty slave (major 136 = 0x88), core_pattern untouched and /proc/sys still read-only.
    expect(lines(fg.stdout)).toEqual(["character special file 88", "regular empty file", "1", "not-a-link"]);
    // Detached with -t: the terminal is box-monitor's, passed as stdin, and checked the same way.
    const id = expectOk(await h.box("run", "-d", "-t", "--network", "none", "consym", "sh", "-c", check)).stdout.trim();
    try {
      expect(expectOk(await h.box("wait", id)).stdout.trim()).toBe("0");
      expect(lines(expectOk(await h.box("logs", id)).stdout)).toEqual(["character special file 88", "regular empty file", "1", "not-a-link"]);
    } finally {
      expectOk(await h.box("rm", "-f", id));
      expectOk(await h.tool("mkroot", "rm", "consym"));
    }
    expectClean();
  });

  it("CVE-2019-14271: box cp runs nothing of the container's and resolves its planted symlinks inside it", async () => {
    const out = join(h.root, "cp-out");
    mkdirSync(out);
    const hostName = `box-cp-${h.id}`;
    writeFileSync(join(out, "in.txt"), "from host\n");
    // Every program and NSS library a helper inside the container might run or load drops /pwned.
    const bait = ["/bin/tar", "/usr/bin/tar", "/bin/cp", "/lib/libnss_files.so.2", "/lib64/libnss_files.so.2", "/lib/x86_64-linux-gnu/libnss_files.so.2"];
    const script = [
      "mkdir -p /etc /tmp /usr/bin /lib64 /lib/x86_64-linux-gnu && echo container-passwd > /etc/passwd && ln -s / /x",
      ...bait.map((f) => `rm -f ${f}; printf '#!/bin/sh\\ntouch /pwned\\n' > ${f}; chmod 755 ${f}`),
      "touch /ready && exec sleep 300",
    ].join("; ");
    const id = expectOk(await h.box("run", "-d", "--network", "none", "probe", "sh", "-c", script)).stdout.trim();
    try {
      const end = Date.now() + 10_000;
      while ((await h.box("cp", `${id}:/ready`, out)).code !== 0) {
        if (Date.now() > end) throw new Error("the container never became ready");
      }
      expectOk(await h.box("cp", `${id}:/x/etc/passwd`, join(out, "p1")));
      expectOk(await h.box("cp", `${id}:/x/x/../../../etc/passwd`, join(out, "p2")));
      expect(readFileSync(join(out, "p1"), "utf8")).toBe("container-passwd\n");
      expect(readFileSync(join(out, "p2"), "utf8")).toBe("container-passwd\n");
      expectOk(await h.box("cp", join(out, "in.txt"), `${id}:/x/tmp/${hostName}`));
      expect(existsSync(`/tmp/${hostName}`)).toBe(false);
      expectOk(await h.box("cp", `${id}:/tmp/${hostName}`, join(out, "back")));
      expect(readFileSync(join(out, "back"), "utf8")).toBe("from host\n");
      expectOk(await h.run(["sh", "-c", `box cp ${id}:/x/etc - >/dev/null`], { env: h.env }));
      expectCode(await h.box("cp", `${id}:/pwned`, out), 1);
    } finally {
      expectOk(await h.box("rm", "-f", id));
    }
    expectClean();
  });

  it("CVE-2018-15664: a directory swapped for a symlink to a host path during 50 copies each way leaves the host untouched", async () => {
    const sentinel = join(h.root, "sentinel");
    mkdirSync(sentinel);
    writeFileSync(join(sentinel, "secret"), "host-secret\n");
    const src = join(h.root, "cp-src");
    mkdirSync(src);
    writeFileSync(join(src, "payload"), "payload\n");
    const outs = join(h.root, "cp-outs");
    mkdirSync(outs);
    const swap = `mkdir -p /w && echo ctr > /w/secret; while :; do rm -rf /w; ln -s ${sentinel} /w; rm -f /w; mkdir /w; echo ctr > /w/secret; done`;
    const id = expectOk(await h.box("run", "-d", "--network", "none", "probe", "sh", "-c", swap)).stdout.trim();
    try {
      const codes: number[] = [];
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 10 }, (_, j) => round * 10 + j);
        const rs = await Promise.all(
          batch.flatMap((i) => [
            h.box("cp", join(src, "payload"), `${id}:/w/f${i}`),
            h.box("cp", `${id}:/w/secret`, join(outs, `s${i}`)),
          ]),
        );
        for (const r of rs) {
          expect([0, 1], formatResult(r)).toContain(r.code);
          codes.push(r.code!);
        }
      }
      expect(readdirSync(sentinel)).toEqual(["secret"]);
      expect(readFileSync(join(sentinel, "secret"), "utf8")).toBe("host-secret\n");
      for (const f of readdirSync(outs)) expect(readFileSync(join(outs, f), "utf8")).toBe("ctr\n");
      expect(codes.filter((c) => c === 0).length).toBeGreaterThan(0);
    } finally {
      expectOk(await h.box("rm", "-f", id));
    }
    expectClean();
  }, 120_000);
});

describe("inside a default container", () => {
  it("mount fails", async () => {
    const r = await h.box("run", "--rm", "probe", "mount", "-t", "tmpfs", "none", "/mnt");
    expect(r.code, formatResult(r)).not.toBe(0);
    expect((await probe([], "mount")).mount).toBe("EPERM");
  });

  it("mknod of a disk fails: the devices cgroup allows only Docker's default devices", async () => {
    // CAP_MKNOD is a default capability, as in Docker; the container's devices
    // cgroup (cgset's default allow-list) is what refuses a block device 8:0.
    const r = await probe([], "mknod_disk");
    expect(r.mknod_disk).toBe("EPERM");
  });

  it.skipIf(!existsSync("/proc/kcore"))("reading /proc/kcore yields nothing", async () => {
    const r = expectOk(await h.box("run", "--rm", "probe", "sh", "-c", "wc -c < /proc/kcore"));
    expect(r.stdout.trim()).toBe("0");
  });

  it("writing /proc/sys fails", async () => {
    const r = await h.box("run", "--rm", "probe", "sh", "-c", "echo box > /proc/sys/kernel/domainname");
    expectCode(r, 1);
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it("loading a kernel module fails: init_module and finit_module give EPERM", async () => {
    const r = await probe([], "init_module", "finit_module", "delete_module");
    expect(r).toEqual({ init_module: "EPERM", finit_module: "EPERM", delete_module: "EPERM" });
  });

  it("ptrace of a host process is impossible: the PID namespace hides it", async () => {
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const r = await probe([], "ptrace", String(sleeper.pid));
      expect(r.ptrace).toBe("ESRCH");
    } finally {
      sleeper.kill("SIGKILL");
    }
  });

  it("raw sockets work only with NET_RAW, as Docker: ping works, and fails after --cap-drop NET_RAW", async () => {
    expectOk(await h.box("run", "--rm", "--network", "none", "probe", "ping", "-c1", "-W2", "127.0.0.1"));
    expect((await probe([], "socket_raw")).socket_raw).toBe("OK");
    expect((await probe(["--cap-drop", "NET_RAW"], "socket_raw")).socket_raw).toBe("EPERM");
    const r = await h.box("run", "--rm", "--network", "none", "--cap-drop", "NET_RAW", "probe", "ping", "-c1", "-W2", "127.0.0.1");
    expect(r.code, formatResult(r)).not.toBe(0);
  });
});

describe("reliability", () => {
  it("50 concurrent runs on the bridge (and 10 remapped ones) leave no mount, cgroup, veth, state or process", async () => {
    const runs = Array.from({ length: 50 }, (_, i) => h.box("run", "--rm", "probe", "sh", "-c", `echo run${i}`, { timeoutMs: 120_000 }));
    const results = await Promise.all(runs);
    results.forEach((r, i) => expect(expectOk(r).stdout).toBe(`run${i}\n`));
    // A user of this test's own (not box's default one, which userns.test.ts adds and removes).
    const user = `bxrel${process.pid}`;
    expectOk(await h.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user]));
    try {
      expectOk(await h.run(["usermod", "--add-subuids", "700000-765535", "--add-subgids", "700000-765535", user]));
      const remapped = await Promise.all(
        Array.from({ length: 10 }, (_, i) => h.box("run", "--rm", `--userns-remap=${user}`, "probe", "sh", "-c", `id -u; cat /proc/self/uid_map; echo r${i}`, { timeoutMs: 120_000 })),
      );
      remapped.forEach((r, i) => expect(expectOk(r).stdout.replace(/ +/g, " ")).toBe(`0\n 0 700000 65536\nr${i}\n`));
    } finally {
      await h.run(["userdel", user]);
    }
    expect(expectOk(await h.box("ps", "-aq")).stdout).toBe("");
    expectClean();
  }, 240_000);
});

void spawnSync;
