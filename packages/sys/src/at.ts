import { libc } from "./libc.js";
import { check } from "./check.js";
import { NR } from "./nr.js";

/** open(2) flag bits that Node's fs.constants lacks or spells differently. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/**
 * openat2(2) (Linux 5.6+). With RESOLVE.IN_ROOT every symlink and `..` is
 * resolved as if dirfd were `/`: the way to open a path inside a container's
 * root that the container itself may have planted symlinks in.
 */
export function openat2(dirfd: number, path: string, flags: number, resolve: number, mode = 0): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return check(
    libc.syscall(NR.openat2, "int", dirfd, "const char *", path, "void *", how, "size_t", how.length),
    "openat2",
    () => path,
  );
}

export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(libc.openat(dirfd, path, flags, mode), "openat", () => path);
}

export function mkdirat(dirfd: number, path: string, mode: number): void {
  check(libc.mkdirat(dirfd, path, mode), "mkdirat", () => path);
}

export function symlinkat(target: string, dirfd: number, path: string): void {
  check(libc.symlinkat(target, dirfd, path), "symlinkat", () => `${path} -> ${target}`);
}

export function unlinkat(dirfd: number, path: string, flags = 0): void {
  check(libc.unlinkat(dirfd, path, flags), "unlinkat", () => path);
}

export function fchownat(dirfd: number, path: string, uid: number, gid: number, flags = 0): void {
  check(libc.fchownat(dirfd, path, uid, gid, flags), "fchownat", () => `${path} ${uid}:${gid}`);
}

/** The target of the symlink `path` under dirfd (PATH_MAX bytes at most, as the kernel allows). */
export function readlinkat(dirfd: number, path: string): string {
  const buf = Buffer.alloc(4096);
  const n = check(libc.readlinkat(dirfd, path, buf, buf.length), "readlinkat", () => path);
  return buf.toString("utf8", 0, n);
}
