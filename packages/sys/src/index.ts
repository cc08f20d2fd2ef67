import { libc } from "./libc.js";
import { check, describe } from "./check.js";
import { NR } from "./nr.js";
import { SysError } from "./errno.js";
import { CLONE, MS, MNT, flagNames } from "./flags.js";

export * from "./flags.js";
export { SysError, errnoName, errnoValue } from "./errno.js";
export { lgetxattr, lsetxattr, llistxattr } from "./xattr.js";
export { flock, LOCK } from "./lock.js";
export { openat2, openat, mkdirat, symlinkat, unlinkat, fchownat, readlinkat, O } from "./at.js";
export { linkUp } from "./link.js";
export { ifIndex, bridgeAddIf } from "./netdev.js";
export { addAddress, addDefaultRoute, addVeth, deleteLink } from "./netlink.js";
export { bpfProgLoad, bpfProgAttach, bpfProgDetach, bpfProgQuery, bpfProgGetFdById, BPF_PROG_TYPE, BPF_ATTACH_TYPE, BPF_F, type ProgLoad } from "./bpf.js";



export function unshare(flags: number): void {
  check(libc.unshare(flags), "unshare", () => flagNames("CLONE", CLONE, flags));
}

export function setns(fd: number, nstype: number, what = ""): void {
  check(libc.setns(fd, nstype), "setns", () => what || `fd=${fd}`);
}

export interface MountArgs {
  source?: string | null;
  target: string;
  fstype?: string | null;
  flags?: number;
  data?: string | null;
}

export function mount({ source = null, target, fstype = null, flags = 0, data = null }: MountArgs): void {
  check(libc.mount(source, target, fstype, flags, data), "mount", () => {
    const parts = [];
    if (source) parts.push(`src=${source}`);
    parts.push(`dst=${target}`);
    if (fstype) parts.push(`type=${fstype}`);
    if (flags) parts.push(`flags=${flagNames("MS", MS, flags)}`);
    if (data) parts.push(`data=${data.length > 200 ? data.slice(0, 200) + "..." : data}`);
    return parts.join(" ");
  });
}

export function umount2(target: string, flags = 0): void {
  check(libc.umount2(target, flags), "umount2", () =>
    flags ? `${target} flags=${flagNames("MNT", MNT, flags)}` : target,
  );
}

export function pivotRoot(newRoot: string, putOld: string): void {
  check(libc.syscall(NR.pivot_root, "const char *", newRoot, "const char *", putOld), "pivot_root", () =>
    `${newRoot} ${putOld}`,
  );
}

export function sethostname(name: string): void {
  const len = Buffer.byteLength(name);
  check(libc.sethostname(name, len), "sethostname", () => name);
}

export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, dev: bigint): void {
  check(libc.mknod(path, mode, dev), "mknod", () => path);
}

export function chroot(path: string): void {
  check(libc.chroot(path), "chroot", () => path);
}

/** chdir(2) of the calling thread; Node's process.chdir would do, but keeps a cached cwd. */
export function chdir(path: string): void {
  check(libc.chdir(path), "chdir", () => path);
}

export function prctl(option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  return check(libc.prctl(option, a2, a3, a4, a5), "prctl", () => `option=${option}`);
}

export function gettid(): number {
  return libc.gettid();
}

export function kill(pid: number, sig: number): void {
  check(libc.kill(pid, sig), "kill", () => `pid=${pid} sig=${sig}`);
}

/* ---- new mount API (Linux 5.2+) ---- */

export function openTree(dirfd: number, path: string, flags: number): number {
  return check(
    libc.syscall(NR.open_tree, "int", dirfd, "const char *", path, "unsigned int", flags),
    "open_tree",
    () => path,
  );
}

export function moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void {
  check(
    libc.syscall(
      NR.move_mount,
      "int", fromDirfd,
      "const char *", fromPath,
      "int", toDirfd,
      "const char *", toPath,
      "unsigned int", flags,
    ),
    "move_mount",
    () => `${fromPath || `fd=${fromDirfd}`} -> ${toPath || `fd=${toDirfd}`}`,
  );
}

export function fsopen(fsname: string, flags: number): number {
  return check(libc.syscall(NR.fsopen, "const char *", fsname, "unsigned int", flags), "fsopen", () => fsname);
}

/** fsconfig(2). `value` is a string for SET_STRING/SET_PATH, null for SET_FLAG/CMD_*. */
export function fsconfig(fd: number, cmd: number, key: string | null, value: string | null, aux = 0): void {
  check(
    libc.syscall(NR.fsconfig, "int", fd, "unsigned int", cmd, "const char *", key, "const char *", value, "int", aux),
    "fsconfig",
    () => (key ? `${key}${value !== null ? "=" + (value.length > 200 ? value.slice(0, 200) + "..." : value) : ""}` : `cmd=${cmd}`),
  );
}

export interface MountAttr {
  set?: number;
  clear?: number;
  propagation?: number;
  /** A user namespace fd whose maps become the mount's idmapping (with MOUNT_ATTR.IDMAP). */
  usernsFd?: number;
}

/**
 * mount_setattr(2) (Linux 5.12+) on the mount `path` names relative to
 * `dirfd` ("" with AT.EMPTY_PATH: the mount fd itself). struct mount_attr
 * is four u64s, passed in place.
 */
export function mountSetattr(dirfd: number, path: string, flags: number, attr: MountAttr, what = path): void {
  const buf = Buffer.alloc(32);
  buf.writeBigUInt64LE(BigInt(attr.set ?? 0), 0);
  buf.writeBigUInt64LE(BigInt(attr.clear ?? 0), 8);
  buf.writeBigUInt64LE(BigInt(attr.propagation ?? 0), 16);
  buf.writeBigUInt64LE(BigInt(attr.usernsFd ?? 0), 24);
  check(
    libc.syscall(NR.mount_setattr, "int", dirfd, "const char *", path, "unsigned int", flags, "void *", buf, "size_t", 32),
    "mount_setattr",
    () => what || `fd=${dirfd}`,
  );
}

export function fsmount(fd: number, flags: number, attrs: number): number {
  return check(
    libc.syscall(NR.fsmount, "int", fd, "unsigned int", flags, "unsigned int", attrs),
    "fsmount",
    () => `fd=${fd}`,
  );
}

/* ---- terminals ---- */

const O_RDWR = 2;
const O_NOCTTY = 0o400;
const O_CLOEXEC = 0o2000000;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;

/** A new pseudo-terminal: the master fd (close-on-exec) and the slave's path. */
export function openpty(): { master: number; slave: string } {
  const master = check(libc.posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "posix_openpt", () => "/dev/ptmx");
  check(libc.grantpt(master), "grantpt", () => `fd=${master}`);
  check(libc.unlockpt(master), "unlockpt", () => `fd=${master}`);
  const buf = Buffer.alloc(128);
  const rc = libc.ptsname_r(master, buf, buf.length);
  if (rc !== 0) throw new SysError("ptsname_r", rc, `fd=${master}`, describe);
  return { master, slave: buf.toString("utf8", 0, buf.indexOf(0)) };
}

const TIOCSPTLCK = 0x40045431;
const TIOCGPTN = 0x80045430;
const TIOCGPTPEER = 0x5441;

/**
 * A pseudo-terminal from the devpts instance whose ptmx is already open as
 * `master` (e.g. a container's /dev/pts/ptmx): unlocked, and its slave opened
 * through the master with TIOCGPTPEER (Linux 4.13), never by a path. The
 * slave's number is what the container sees as /dev/pts/N.
 */
export function ptyPeer(master: number): { slave: number; index: number } {
  const zero = Buffer.alloc(4);
  check(libc.ioctl(master, TIOCSPTLCK, "void *", zero), "ioctl", () => `TIOCSPTLCK fd=${master}`);
  const n = Buffer.alloc(4);
  check(libc.ioctl(master, TIOCGPTN, "void *", n), "ioctl", () => `TIOCGPTN fd=${master}`);
  const slave = check(libc.ioctl(master, TIOCGPTPEER, "int", O_RDWR | O_NOCTTY | O_CLOEXEC), "ioctl", () => `TIOCGPTPEER fd=${master}`);
  return { slave, index: n.readInt32LE(0) };
}

export interface WinSize {
  rows: number;
  cols: number;
}

export function getWinSize(fd: number): WinSize | null {
  const buf = Buffer.alloc(8);
  if (libc.ioctl(fd, TIOCGWINSZ, "void *", buf) < 0) return null;
  return { rows: buf.readUInt16LE(0), cols: buf.readUInt16LE(2) };
}

const FIONREAD = 0x541b;

/** How many bytes a read of fd would return now (FIONREAD); 0 when the ioctl fails. */
export function bytesReadable(fd: number): number {
  const buf = Buffer.alloc(4);
  if (libc.ioctl(fd, FIONREAD, "void *", buf) < 0) return 0;
  return buf.readInt32LE(0);
}

export function setWinSize(fd: number, size: WinSize): void {
  const buf = Buffer.alloc(8);
  buf.writeUInt16LE(size.rows, 0);
  buf.writeUInt16LE(size.cols, 2);
  check(libc.ioctl(fd, TIOCSWINSZ, "void *", buf), "ioctl", () => `TIOCSWINSZ fd=${fd}`);
}
