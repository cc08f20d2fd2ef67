/**
 * The container's mount tree, prepared by ns-exec on its main thread after
 * unshare(CLONE_NEWNS): the root bind, a minimal /dev, /sys, volumes, tmpfs
 * and the /etc files. /proc and the masked paths come later, in ns-init,
 * from inside the new PID namespace.
 */
import { chmodSync, chownSync, closeSync, fchownSync, fstatSync, openSync, mkdirSync, readFileSync, statSync, symlinkSync, unlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MS, O, S_IF, SysError, makedev, mknod, mount, ptyPeer } from "@box/sys";
import type { IdMap, NsExecOptions } from "./options.js";
import { RootDir, fdPath } from "./inroot.js";

/** Docker's default device nodes: name, major, minor. */
const DEVICES: [string, number, number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

const DEV_LINKS: [string, string][] = [
  ["fd", "/proc/self/fd"],
  ["stdin", "/proc/self/fd/0"],
  ["stdout", "/proc/self/fd/1"],
  ["stderr", "/proc/self/fd/2"],
  ["core", "/proc/kcore"],
  ["ptmx", "pts/ptmx"],
];

const DOCKER_TMPFS = "size=65536k";

/** The host id that `inside` maps to, if any. */
export function hostId(map: IdMap[], inside: number): number | undefined {
  const m = map.find((x) => inside >= x.inside && inside < x.inside + x.count);
  return m ? m.outside + (inside - m.inside) : undefined;
}

/** With a user namespace, the host uid and gid of its root: who owns what ns-exec makes for it. */
function owner(o: NsExecOptions): { uid: number; gid: number } | undefined {
  if (!o.unshare.user) return undefined;
  const uid = hostId(o.uidMap, 0);
  const gid = hostId(o.gidMap.length ? o.gidMap : o.uidMap, 0);
  return uid !== undefined && gid !== undefined ? { uid, gid } : undefined;
}

export interface PrepareResult {
  /** Path of the root as mounted for pivot_root. */
  root: string;
}

/** Mount on an O_PATH fd so the target cannot be swapped for a symlink between check and use. */
function mountAt(rootDir: RootDir, target: string, kind: "dir" | "file", args: { source?: string | null; fstype?: string | null; flags?: number; data?: string | null }): void {
  const fd = kind === "dir" ? rootDir.mkdirp(target) : rootDir.touch(target);
  try {
    mount({ ...args, target: fdPath(fd) });
  } catch (e) {
    throw new Error(`mount ${target}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

function remountReadonly(rootDir: RootDir, target: string, extra = 0): void {
  const fd = rootDir.open(target);
  if (fd === null) throw new Error(`remount ${target}: it vanished`);
  try {
    mount({ target: fdPath(fd), flags: MS.BIND | MS.REMOUNT | MS.RDONLY | extra });
  } finally {
    closeSync(fd);
  }
}

/**
 * A fresh tmpfs at /dev, filled with Docker's devices; returns an O_PATH fd
 * of it. Everything below goes through that fd (/proc/self/fd/N/...), never
 * through ROOT/dev: an image whose /dev is a symlink to an absolute path
 * would otherwise send the device nodes, and the /etc staging files, to
 * that path on the host (the CVE-2019-16884 / CVE-2023-27561 class).
 */
function setupDev(rootDir: RootDir, o: NsExecOptions, console?: Console | "allocate"): { devFd: number; pty?: ContainerPty } {
  const own = owner(o);
  const ids = own ? `,uid=${own.uid},gid=${own.gid}` : "";
  mountAt(rootDir, "/dev", "dir", { source: "tmpfs", fstype: "tmpfs", flags: MS.NOSUID | MS.STRICTATIME, data: `mode=755,${DOCKER_TMPFS}${ids}` });
  const devFd = rootDir.open("/dev");
  if (devFd === null) throw new Error("mount /dev: it vanished");
  const dev = fdPath(devFd);
  for (const [name, major, minor] of DEVICES) {
    const p = join(dev, name);
    mknod(p, S_IF.CHR | 0o666, makedev(major, minor));
    chmodSync(p, 0o666); // mknod's mode went through our umask
  }
  for (const [name, target] of DEV_LINKS) symlinkSync(target, join(dev, name));
  mkdirSync(join(dev, "pts"));
  // gid=5 is the container's tty group: the host id it maps to, in a user namespace.
  const tty = o.unshare.user ? hostId(o.gidMap.length ? o.gidMap : o.uidMap, 5) : 5;
  mount({ source: "devpts", target: join(dev, "pts"), fstype: "devpts", flags: MS.NOSUID | MS.NOEXEC, data: `newinstance,ptmxmode=0666,mode=0620${tty !== undefined ? `,gid=${tty}` : ""}` });
  mkdirSync(join(dev, "shm"));
  mount({ source: "shm", target: join(dev, "shm"), fstype: "tmpfs", flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: `mode=1777,${DOCKER_TMPFS}${ids}` });
  mkdirSync(join(dev, "mqueue"));
  // mqueue belongs to the IPC namespace of the mounting thread: ours, after unshare.
  mount({ source: "mqueue", target: join(dev, "mqueue"), fstype: "mqueue", flags: MS.NOSUID | MS.NODEV | MS.NOEXEC });
  let pty: ContainerPty | undefined;
  if (console === "allocate") {
    pty = allocatePty(join(dev, "pts", "ptmx"));
    bindConsole(dev, { fd: pty.slave }, own);
  } else if (console !== undefined) bindConsole(dev, console, own);
  return { devFd, pty };
}

/** A terminal of the container's own devpts: what `tty` inside calls /dev/pts/N, as with Docker. */
export interface ContainerPty {
  master: number;
  slave: number;
  index: number;
}

/** Open ptmx (a path under a devpts just mounted, or resolved inside a root) and take a pty from it. */
export function allocatePty(ptmx: string | number): ContainerPty {
  const master = typeof ptmx === "number" ? ptmx : openSync(ptmx, O.RDWR | O.NOCTTY | O.CLOEXEC);
  try {
    const st = fstatSync(master);
    // ptmx is the char device 5:2, in a devpts or as /dev/ptmx beside one.
    if (!st.isCharacterDevice() || st.rdev !== 0x502) throw new Error(`${typeof ptmx === "number" ? "ptmx" : ptmx}: not the ptmx device (5:2)`);
    const { slave, index } = ptyPeer(master);
    return { master, slave, index };
  } catch (e) {
    closeSync(master);
    throw e;
  }
}

/** Linux's UNIX98 pty slave majors (/dev/pts/N): 136 to 143. */
const PTY_SLAVE_MAJORS = [136, 143];

/**
 * The terminal that becomes /dev/console: an open fd of it, and its path
 * on the host when it was opened there (not in the container's devpts).
 */
export interface Console {
  fd: number;
  path?: string;
}

/**
 * /dev/console: the terminal, bind-mounted onto a file made here, with
 * O_EXCL, in the fresh /dev tmpfs. The fd was opened on the host, so its
 * mount is not one of this namespace's and cannot be a bind source: the
 * path is opened again (O_PATH, no symlinks) in this namespace, checked to
 * be the same pty slave, and bound from that fd. Neither a path in the
 * image nor a swapped /dev/pts/N can redirect the mount (CVE-2025-52565).
 */
function bindConsole(dev: string, console: Console, own?: { uid: number; gid: number }): void {
  const st = fstatSync(console.fd);
  const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
  const what = console.path ?? `fd ${console.fd}`;
  if (!st.isCharacterDevice() || major < PTY_SLAVE_MAJORS[0]! || major > PTY_SLAVE_MAJORS[1]!) {
    throw new Error(`/dev/console: ${what} is not a pseudo-terminal slave`);
  }
  // One of the container's own devpts is a mount of this namespace: bound from its fd as it is.
  const src = console.path !== undefined ? openSync(console.path, O.PATH | O.NOFOLLOW | O.CLOEXEC) : console.fd;
  let dst: number | undefined;
  try {
    const again = fstatSync(src);
    if (again.rdev !== st.rdev || again.ino !== st.ino || again.dev !== st.dev) {
      throw new Error(`/dev/console: ${what} is no longer the terminal box opened`);
    }
    const target = join(dev, "console");
    writeFileSync(target, "", { mode: 0o600, flag: "wx" });
    dst = openSync(target, O.PATH | O.NOFOLLOW | O.CLOEXEC);
    mount({ source: fdPath(src), target: fdPath(dst), flags: MS.BIND });
    // The container's root owns its terminal, as runc gives it in a user namespace.
    if (own) fchownSync(console.fd, own.uid, own.gid);
  } catch (e) {
    throw new Error("mount /dev/console", { cause: e });
  } finally {
    if (src !== console.fd) closeSync(src);
    if (dst !== undefined) closeSync(dst);
  }
}

function setupSys(rootDir: RootDir, o: NsExecOptions): void {
  const flags = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  try {
    mountAt(rootDir, "/sys", "dir", { source: "sysfs", fstype: "sysfs", flags });
  } catch (e) {
    // sysfs refuses a mount from a network namespace we do not own (host
    // networking in a user namespace): fall back to the host's, read-only.
    if (!(e instanceof Error && e.cause instanceof SysError && e.cause.code === "EPERM")) throw e;
    mountAt(rootDir, "/sys", "dir", { source: "/sys", flags: MS.BIND | MS.REC });
    remountReadonly(rootDir, "/sys", MS.NOSUID | MS.NODEV | MS.NOEXEC);
  }
  void o;
}

/** /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker provides them. */
function setupEtc(dev: string, rootDir: RootDir, o: NsExecOptions): void {
  const hostname = o.hostname;
  const files: [string, string][] = [];
  if (hostname !== undefined) files.push(["hostname", `${hostname}\n`]);
  files.push(["hosts", o.hosts ?? defaultHosts(hostname)]);
  files.push(["resolv.conf", o.resolvConf ?? defaultResolvConf()]);
  // A bind onto one of them wins, as in Docker (box binds a network's
  // managed hosts file there, which must stay the same inode as it changes).
  const bound = new Set(o.binds.map((b) => b.target.replace(/\/+$/, "")));
  const own = files.filter(([name]) => !bound.has(`/etc/${name}`));
  // Write them into our /dev tmpfs, bind them into place, then unlink the
  // sources: the bind mounts keep the files alive and /dev stays clean.
  const stage = join(dev, ".etc");
  mkdirSync(stage, { mode: 0o700 });
  try {
    for (const [name, content] of own) {
      const src = join(stage, name);
      writeFileSync(src, content, { mode: 0o644 });
      // Root in a user namespace owns them, as Docker chowns them to the remapped root.
      const own = owner(o);
      if (own) chownSync(src, own.uid, own.gid);
      mountAt(rootDir, `/etc/${name}`, "file", { source: src, flags: MS.BIND });
      unlinkSync(src);
    }
  } finally {
    rmdirSync(stage);
  }
}

export function defaultHosts(hostname?: string, ip?: string): string {
  let s = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
  if (hostname) s += `${ip ?? "127.0.1.1"}\t${hostname}\n`;
  return s;
}

/** The host's resolv.conf without loopback resolvers (unreachable from a container), as Docker. */
export function defaultResolvConf(hostText?: string): string {
  let text = hostText;
  if (text === undefined) {
    try {
      text = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      text = "";
    }
  }
  const lines = text.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  return lines.join("\n").replace(/\n*$/, "\n");
}


/**
 * Build the container's mount tree under o.root. Runs in the new mount
 * namespace, so a failure half-way leaves nothing on the host: the
 * namespace and its mounts die with the process.
 */
export function prepareRoot(o: NsExecOptions, console?: Console | "allocate"): ContainerPty | undefined {
  const root = o.root!;
  // / is already a slave (enterNamespaces): ours never reach the host.
  // pivot_root needs the new root to be a mount point.
  mount({ source: root, target: root, flags: MS.BIND | MS.REC });
  const rootDir = new RootDir(root);
  let devFd: number | undefined;
  let pty: ContainerPty | undefined;
  try {
    ({ devFd, pty } = setupDev(rootDir, o, console));
    setupSys(rootDir, o);
    const proc = rootDir.mkdirp("/proc", 0o555);
    closeSync(proc);
    for (const b of o.binds) {
      let isDir: boolean;
      try {
        isDir = statSync(b.source).isDirectory();
      } catch (e) {
        throw new Error(`bind source ${b.source}`, { cause: e });
      }
      mountAt(rootDir, b.target, isDir ? "dir" : "file", { source: b.source, flags: MS.BIND | MS.REC });
      if (b.readonly) remountReadonly(rootDir, b.target);
    }
    for (const t of o.tmpfs) {
      mountAt(rootDir, t.target, "dir", {
        source: "tmpfs",
        fstype: "tmpfs",
        flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
        data: t.options || DOCKER_TMPFS,
      });
    }
    setupEtc(fdPath(devFd), rootDir, o);
    if (o.readOnly) mount({ target: root, flags: MS.BIND | MS.REMOUNT | MS.RDONLY });
    return pty;
  } catch (e) {
    if (pty) {
      closeSync(pty.master);
      closeSync(pty.slave);
    }
    throw e;
  } finally {
    if (devFd !== undefined) closeSync(devFd);
    rootDir.close();
  }
}
