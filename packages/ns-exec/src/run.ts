/**
 * Run a command per an NsExecOptions: enter or create namespaces on the main
 * thread, prepare the root, spawn ns-init as PID 1, relay terminal and
 * signals, and return the exit status the way util-linux does (the
 * command's own, 128+n for a signal, 126/127 for exec failures).
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { closeSync, openSync, readSync, readlinkSync, stat } from "node:fs";
import { join } from "node:path";
import * as tty from "node:tty";
import { ExitError } from "@box/cli";
import { CLONE, MS, O, RESOLVE, SysError, bytesReadable, mount, getWinSize, linkUp, openat2, openpty, setWinSize, setns, sethostname, unshare } from "@box/sys";
import { NAMESPACES } from "./namespaces.js";
import type { NsExecOptions } from "./options.js";
import { validate } from "./options.js";
import { allocatePty, prepareRoot, type Console } from "./rootfs.js";
import { RootDir } from "./inroot.js";
import { resolveIdentity, type Identity } from "./passwd.js";
import { loadFilter } from "@box/seccomp";
import { writeIdMaps } from "./userns.js";

import { NS_INIT } from "./stage.js";
export { NS_INIT };

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RunHooks {
  /**
   * Called inside the new namespaces, before the root is prepared: the place
   * to mount the root filesystem (box mounts its overlay here, so the mount
   * lives and dies with the container's mount namespace). Sync on purpose.
   */
  mountRoot?: () => void;
  /**
   * Called with the PID of ns-init before it goes on (e.g. to join a cgroup),
   * as soon as ns-init exists. A promise it returns is awaited before "go";
   * what it does in the background (cgset's attachInBackground) overlaps
   * with ns-exec preparing the root.
   */
  beforeStart?: (pid: number) => void | Promise<void>;
  /** Called once ns-init is spawned and set free (its pid, as seen from the host). Sync on purpose. */
  started?: (pid: number) => void;
}

/** Signals a foreground ns-exec passes on to the container, as `docker run` proxies them. */
const FORWARDED: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

function identity(o: NsExecOptions): Identity | undefined {
  if (o.setuid === undefined && o.setgid === undefined && o.root === undefined) return undefined;
  let passwd: string | null = null;
  let group: string | null = null;
  if (o.root !== undefined) {
    const r = new RootDir(o.root);
    try {
      passwd = r.readFile("/etc/passwd");
      group = r.readFile("/etc/group");
    } finally {
      r.close();
    }
  }
  const id = resolveIdentity(o.setuid, o.setgid, passwd, group);
  return o.groups !== undefined ? { ...id, groups: [...new Set([id.gid, ...o.groups])] } : id;
}

function environment(o: NsExecOptions, id: Identity | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (!o.clearEnv) Object.assign(env, process.env);
  if (o.clearEnv) {
    env.PATH = DEFAULT_PATH;
    if (o.hostname !== undefined) env.HOSTNAME = o.hostname;
    if (o.tty) env.TERM = "xterm";
  }
  for (const e of o.env) {
    const i = e.indexOf("=");
    if (i < 0) {
      const v = process.env[e];
      if (v !== undefined) env[e] = v;
    } else env[e.slice(0, i)] = e.slice(i + 1);
  }
  if (o.clearEnv && env.HOME === undefined) env.HOME = id?.home ?? "/root";
  return env;
}

export function initArgs(o: NsExecOptions, id: Identity | undefined, sync: boolean): string[] {
  const a: string[] = ["-e", "4"];
  if (sync) a.push("-s");
  if (o.unshare.user) a.push("-Y");
  for (const j of o.join) if (j.kind === "user") a.push("-U", j.path);
  for (const j of o.join) if (j.kind === "mount") a.push("-M", j.path);
  // -D: ns-init joins the PID namespace itself, so that it stays outside to reap the command.
  if (o.background) for (const j of o.join) if (j.kind === "pid") a.push("-P", j.path);
  if (o.root !== undefined) a.push("-r", o.root);
  if (o.cwd !== undefined) a.push("-w", o.cwd);
  if (id) a.push("-u", String(id.uid), "-g", String(id.gid), "-G", id.groups.join(","));
  if (o.caps !== undefined) a.push("-C", o.caps.toString(16));
  for (const m of o.maskedPaths) a.push("-m", m);
  for (const r of o.readonlyPaths) a.push("-o", r);
  for (const r of o.rlimits) a.push("-R", `${r.name}=${r.soft}:${r.hard}`);
  if (o.noNewPrivileges) a.push("-n");
  // The compiled filter arrives on fd 5 (see launch).
  if (o.seccomp !== undefined) a.push("-F", "5");
  if (o.init) a.push("-i");
  if (o.tty) a.push("-t");
  if (o.unshare.cgroup) a.push("-c");
  if (o.dieWithParent) a.push("-k");
  if (o.background) a.push("-D");
  a.push("--", ...o.command);
  return a;
}

function enterNamespaces(o: NsExecOptions): void {
  if (o.join.length || o.netPath) {
    // setns(CLONE_NEWNS) needs an fs_struct of our own; Node's threads share one.
    unshare(0x00000200 /* CLONE_FS */);
    const joins = [...o.join];
    if (o.netPath) joins.push({ kind: "net", path: o.netPath });
    for (const ns of NAMESPACES) {
      for (const j of joins.filter((x) => x.kind === ns.kind)) {
        // ns-init joins the user namespace (-U: setns into one is refused to
        // a multithreaded caller), the mount namespace (-M: its own file
        // would not be found from inside the joined root) and, for a
        // background command, the PID namespace (-P: it stays outside to reap).
        if (ns.kind === "user" || ns.kind === "mount" || (ns.kind === "pid" && o.background)) continue;
        const fd = openSync(j.path, O.RDONLY | O.CLOEXEC);
        try {
          setns(fd, ns.flag, `${j.path} (${ns.kind})`);
        } finally {
          closeSync(fd);
        }
      }
    }
  }
  let flags = 0;
  for (const ns of NAMESPACES) {
    if (!o.unshare[ns.kind]) continue;
    // CLONE_NEWUSER is ns-init's (single-threaded); with a user namespace,
    // ns-init also makes the PID namespace so that it owns it; the cgroup
    // namespace waits until ns-init sits in its cgroup.
    if (ns.kind === "user" || ns.kind === "cgroup") continue;
    if (ns.kind === "pid" && o.unshare.user) continue;
    flags |= ns.flag;
  }
  if (flags) unshare(flags);
  // Before any mount of ours: on a host whose / is shared (systemd makes it
  // so), mounts made in the new namespace would propagate back to the
  // host's, the overlay included, and outlive the container. Slave, not
  // private: the host's unmounts still reach us.
  if (flags & CLONE.NEWNS) mount({ target: "/", flags: MS.REC | MS.SLAVE });
  // A new network namespace starts with lo down; Docker brings it up.
  if (o.unshare.net) linkUp("lo");
}


/**
 * Run the command and resolve to its exit status. Leaves the calling
 * thread inside the new namespaces: the process is expected to exit after.
 */
export async function nsExec(o: NsExecOptions, hooks: RunHooks = {}): Promise<number> {
  const r = await launch(o, hooks, false);
  return r.code!;
}

export interface Started {
  /** ns-init's pid, as seen from the host: the container's PID 1. */
  pid: number;
  /** Its exit status, if it already exited (and was reaped by this process). */
  exitCode?: number;
}

/**
 * Start the command and resolve as soon as it has been executed (the status
 * pipe reached EOF with no error), without waiting for it: the way a
 * detached container starts. The caller's own stdin, stdout and stderr become
 * the command's (with `tty`, they must already be a terminal, which becomes
 * the controlling terminal and /dev/console); no signals are relayed. The
 * caller is expected to exit soon after, leaving the container to its
 * subreaper; until then, an exit it reaps is reported in `exitCode`.
 */
export async function nsStart(o: NsExecOptions, hooks: RunHooks = {}): Promise<Started> {
  const r = await launch(o, hooks, true);
  return { pid: r.pid, exitCode: r.code };
}

async function launch(o: NsExecOptions, hooks: RunHooks, detach: boolean): Promise<{ pid: number; code?: number }> {
  validate(o);
  // Compiled before any side effect: a bad profile fails the run here. The
  // profile's capability rules follow the container's own set, as Docker's.
  let filter: Buffer | undefined;
  if (o.seccomp !== undefined) {
    try {
      // Compiled programs are kept in box's runtime directory (a tmpfs: gone at reboot).
      filter = loadFilter(o.seccomp, { caps: o.caps, cacheDir: join(process.env.BOX_RUN || "/run/box", "seccomp") });
    } catch (e) {
      throw new ExitError("seccomp", 1, { cause: e });
    }
  }

  // The terminal. With a root of its own, the container's devpts gives it
  // (prepareRoot), so that `tty` inside says /dev/pts/0 as with Docker; an
  // exec takes one from the container's devpts through ptyRoot; otherwise
  // (no root of its own to put one in) a host pty.
  let master: number | undefined;
  let slaveFd: number | undefined;
  let console: Console | "allocate" | undefined;
  if (o.tty && !detach) {
    if (o.root !== undefined && o.unshare.mount) console = "allocate";
    else if (o.ptyRoot !== undefined) ({ master, slave: slaveFd } = ptyIn(o.ptyRoot));
    else {
      const pty = openpty();
      master = pty.master;
      slaveFd = openSync(pty.slave, O.RDWR | O.NOCTTY | O.CLOEXEC);
    }
  } else if (o.tty) {
    const stdin = readlinkSync("/proc/self/fd/0");
    if (!stdin.startsWith("/dev/pts/")) throw new ExitError(`tty: stdin is ${stdin}, not a terminal`, 1);
    console = { fd: 0, path: stdin };
  }

  // Keep a way back to the host's mount namespace: once the container is
  // gone the caller cleans up on the host, where the container's rootfs is
  // an empty directory and not a mount with volumes bound inside it.
  const hostMnt = o.unshare.mount && !detach ? openSync("/proc/thread-self/ns/mnt", O.RDONLY | O.CLOEXEC) : undefined;
  let id: Identity | undefined;
  let env: Record<string, string>;
  // Back to the host's mounts, where the caller cleans up (its rootfs is
  // busy only in the namespace being abandoned). If we never left them
  // (unshare itself failed), setns may be refused: the first error is the one to tell.
  let hostMntOpen = hostMnt !== undefined;
  const returnToHostMnt = () => {
    if (!hostMntOpen) return;
    hostMntOpen = false;
    try {
      setns(hostMnt!, CLONE.NEWNS, "host mount namespace");
    } catch {
      // still in the host's mount namespace
    }
    closeSync(hostMnt!);
  };
  const backToHost = (e: unknown): unknown => {
    returnToHostMnt();
    // A non-root caller gets EPERM from the first unshare: say what is missing.
    if (e instanceof SysError && e.code === "EPERM" && e.syscall === "unshare" && process.geteuid?.() !== 0) {
      return new ExitError(`${e.message}: ns-exec needs root to make namespaces and mounts; rootless use is not supported yet`, 1);
    }
    return e;
  };
  // libuv starts its thread pool on first use, and after unshare(CLONE_NEWPID)
  // the kernel refuses this process new threads (EINVAL): a later async fs
  // call would abort node. Start the pool now; stat of / is the cheapest job.
  stat("/", () => {});
  try {
    enterNamespaces(o);
    if (o.hostname !== undefined) sethostname(o.hostname);
    hooks.mountRoot?.();
    // Names resolve in the image's /etc/passwd: only now is the root in place.
    id = identity(o);
    env = environment(o, id);
  } catch (e) {
    throw backToHost(e);
  }
  // Whatever fails from here on, the caller gets its thread back in the host's
  // mount namespace: there the container's rootfs is a plain directory it can remove.
  try {
    const withRoot = o.root !== undefined && !!o.unshare.mount;
    const prepare = () => {
      try {
        const pty = prepareRoot(o, console);
        if (pty) ({ master, slave: slaveFd } = pty);
      } catch (e) {
        throw backToHost(e);
      }
    };
    // ns-init waits for "go" before it touches the root (it copies this mount
    // namespace only then), so it can start first and join its cgroup while the
    // root is prepared: a v1 cgroup.procs write waits out an RCU grace period.
    // Not when the root gives the terminal that is to be ns-init's stdio.
    const spawnFirst = withRoot && console !== "allocate";
    if (withRoot && !spawnFirst) prepare();

    if (master !== undefined) {
      const size = process.stdout.isTTY ? getWinSize(1) : null;
      if (size) setWinSize(master, size);
    }

    // Handlers go in before the spawn: a signal that arrives while the
    // container starts must reach it, not kill ns-exec with its default action.
    let child: ChildProcess | undefined;
    const pending: NodeJS.Signals[] = [];
    const forward = (sig: NodeJS.Signals) => (child?.pid !== undefined ? child.kill(sig) : pending.push(sig));
    const relaySignals = !o.tty && !detach;
    if (relaySignals) for (const s of FORWARDED) process.on(s, forward);

    // ns-init waits for "go" when something must happen first: its cgroup, its id maps, or the root.
    const sync = hooks.beforeStart !== undefined || !!o.unshare.user || spawnFirst;
    const stdio: StdioOptions = detach
      ? ["inherit", "inherit", "inherit", "pipe", "pipe"]
      : o.background && slaveFd === undefined
        ? ["ignore", "ignore", "ignore", "pipe", "pipe"]
        : slaveFd !== undefined
        ? [slaveFd, slaveFd, slaveFd, "pipe", "pipe"]
        : [o.stdin ? "inherit" : "ignore", "inherit", "inherit", "pipe", "pipe"];
    if (filter) (stdio as unknown[]).push("pipe");
    // exec -dt: ns-init holds the master (-T) and drains it while the command runs.
    const masterFd = o.background && master !== undefined ? stdio.length : undefined;
    if (masterFd !== undefined) (stdio as unknown[]).push(master);
    const args = initArgs(o, id, sync);
    if (masterFd !== undefined) args.splice(args.indexOf("--"), 0, "-T", String(masterFd));
    child = spawn(NS_INIT, args, { stdio, env, argv0: "ns-init" });
    if (masterFd !== undefined) {
      closeSync(master!);
      master = undefined;
    }
    // At most 32 KiB (4096 instructions), within a pipe's buffer: ns-init
    // reads it to EOF before anything else.
    if (filter) {
      const pipe = (child.stdio as unknown as NodeJS.WritableStream[])[5]!;
      // If ns-init is gone (or never started), its status or exit says why; not an EPIPE here.
      pipe.on("error", () => {});
      pipe.end(filter);
    }
    for (const sig of pending.splice(0)) child.kill(sig);
    if (slaveFd !== undefined) closeSync(slaveFd);

    const syncPipe = child.stdio[3] as NodeJS.WritableStream & { destroy(): void };
    // ns-init may die before it reads "go" (killed, or failed): its exit
    // status says so, and the caller cleans up; an EPIPE here must not crash us.
    syncPipe.on("error", () => {});
    const statusPipe = child.stdio[4] as NodeJS.ReadableStream;
    let failure: { code: number; message: string } | undefined;
    let spawnError: Error | undefined;
    child.on("error", (e) => (spawnError = e));
    let exited: [number | null, NodeJS.Signals | null] | undefined;
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child!.on("exit", (c, s) => resolve((exited = [c, s])));
      child!.on("error", () => resolve((exited = [null, null])));
    });

    const pid = child.pid;
    // Called now, synchronously: what it starts in the background runs while the root is prepared.
    let before: Promise<void> | undefined;
    if (pid !== undefined && hooks.beforeStart && !o.unshare.user) {
      const hook = hooks.beforeStart;
      before = (async () => hook(pid))();
      before.catch(() => {}); // awaited below; not unhandled meanwhile
    }
    if (spawnFirst) {
      try {
        prepare();
      } catch (e) {
        child.kill("SIGKILL");
        await before?.catch(() => {});
        await exit;
        if (relaySignals) for (const s of FORWARDED) process.off(s, forward);
        throw e;
      }
    }
    if (before) {
      try {
        await before;
      } catch (e) {
        // The command never ran. Back to the host's mounts before the caller
        // cleans up: in the container's namespace its rootfs is still mounted.
        child.kill("SIGKILL");
        await exit;
        if (relaySignals) for (const s of FORWARDED) process.off(s, forward);
        throw backToHost(e);
      }
    }
    // With a user namespace, "go" follows the id maps (the status handler below).
    if (sync && !o.unshare.user && pid !== undefined) syncPipe.write("1");

    if (pid !== undefined) hooks.started?.(pid);

    const statusDone = new Promise<void>((resolve) => {
      let buf = "";
      statusPipe.setEncoding("utf8");
      statusPipe.on("data", (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === "U" && pid !== undefined) {
            const go = async () => {
              try {
                writeIdMaps(pid, o.uidMap, o.gidMap);
              } catch (e) {
                throw new Error(`write id maps of ${pid}: ${(e as Error).message}`);
              }
              await hooks.beforeStart?.(pid);
              syncPipe.write("1");
            };
            go().catch((e: unknown) => {
              failure = { code: 1, message: (e as Error).message };
              child!.kill("SIGKILL");
            });
          } else if (line.startsWith("E ")) {
            const m = /^E (\d+) (.*)$/.exec(line);
            failure = { code: Number(m?.[1] ?? 1), message: m?.[2] ?? line };
          }
        }
      });
      statusPipe.on("end", resolve);
      statusPipe.on("error", () => resolve());
      statusPipe.on("close", resolve);
    });

    const status = (c: number | null, s: NodeJS.Signals | null) => (s ? 128 + (osSignal(s) ?? 0) : (c ?? 1));

    if (detach) {
      await Promise.race([statusDone, exit]);
      if (!failure) await statusDone;
      syncPipe.destroy();
      if (spawnError) throw new ExitError(`spawn ${NS_INIT}: ${spawnError.message}`, 1);
      if (failure) {
        child.kill("SIGKILL");
        throw new ExitError(failure.message, failure.code);
      }
      child.unref();
      return { pid: pid!, code: exited ? status(...exited) : undefined };
    }

    if (o.background) {
      // The status pipe ends when the command is executed (or says why not);
      // ns-init stays on to reap it and is not waited for.
      await statusDone;
      if (relaySignals) for (const s of FORWARDED) process.off(s, forward);
      syncPipe.destroy();
      if (spawnError) throw new ExitError(`spawn ${NS_INIT}: ${spawnError.message}`, 1);
      if (failure) throw new ExitError(failure.message, failure.code);
      child.unref();
      return { pid: pid!, code: 0 };
    }

    let relayDone: Promise<void> = Promise.resolve();
    let restoreTty = () => {};
    if (master !== undefined) relayDone = relay(master, o.stdin, (r) => (restoreTty = r));

    const [code, signal] = await exit;
    await statusDone;
    let relayed = false;
    await Promise.race([relayDone.then(() => (relayed = true)), new Promise((r) => setTimeout(r, 200))]);
    // A stalled process runs that timer before it polls the terminal again:
    // what the command wrote last may still be waiting there. Take it now.
    if (!relayed && master !== undefined) drainMaster(master);
    restoreTty();
    for (const s of FORWARDED) process.off(s, forward);
    returnToHostMnt();
    syncPipe.destroy();

    if (spawnError) throw new ExitError(`spawn ${NS_INIT}: ${spawnError.message}`, 1);
    if (failure) throw new ExitError(failure.message, failure.code);
    return { pid: pid!, code: status(code, signal) };
  } finally {
    returnToHostMnt();
  }
}

import { constants as osc } from "node:os";
function osSignal(s: NodeJS.Signals): number | undefined {
  return osc.signals[s];
}

/** Copy what the pty master holds to stdout without waiting for more (FIONREAD: never blocks). */
function drainMaster(master: number): void {
  const buf = Buffer.allocUnsafe(65536);
  for (let n = bytesReadable(master); n > 0; n = bytesReadable(master)) {
    let got: number;
    try {
      got = readSync(master, buf, 0, Math.min(n, buf.length), null);
    } catch {
      return;
    }
    if (got <= 0) return;
    process.stdout.write(buf.subarray(0, got));
  }
}

/** Copy between our terminal and the pty master until the container side closes. */
function relay(master: number, withStdin: boolean, setRestore: (f: () => void) => void): Promise<void> {
  const input = process.stdin;
  const out = new tty.ReadStream(master);
  const masterWrite = new tty.WriteStream(master);
  if (withStdin && input.isTTY) {
    input.setRawMode(true);
    setRestore(() => input.setRawMode(false));
  }
  const onResize = () => {
    const size = getWinSize(1);
    if (size) setWinSize(master, size);
  };
  process.stdout.on("resize", onResize);
  if (withStdin) {
    input.on("data", (d) => masterWrite.write(d));
    input.resume();
  }
  return new Promise((resolve) => {
    out.on("data", (d) => process.stdout.write(d));
    const done = () => {
      process.stdout.off("resize", onResize);
      if (withStdin) {
        input.pause();
        (input as unknown as { unref?: () => void }).unref?.();
      }
      resolve();
    };
    out.on("end", done);
    out.on("error", done);
    out.on("close", done);
  });
}

/** A pty from ROOT/dev/pts/ptmx, the path resolved inside ROOT (a container's symlinks stay in it). */
function ptyIn(root: string): { master: number; slave: number } {
  const dir = openSync(root, O.PATH | O.DIRECTORY | O.CLOEXEC);
  try {
    const ptmx = openat2(dir, "dev/pts/ptmx", O.RDWR | O.NOCTTY | O.CLOEXEC, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
    const { master, slave } = allocatePty(ptmx);
    return { master, slave };
  } catch (e) {
    throw new Error(`tty: a terminal from ${root}/dev/pts/ptmx`, { cause: e });
  } finally {
    closeSync(dir);
  }
}
