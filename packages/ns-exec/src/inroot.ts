/**
 * Paths inside a container root, resolved as the container would resolve
 * them: symlinks and `..` never leave the root (openat2 RESOLVE_IN_ROOT).
 * Mount targets are opened here and mounted on through /proc/self/fd/N, so
 * an image that plants a symlink at a mount destination cannot redirect the
 * mount onto the host (CVE-2021-30465, CVE-2019-16884).
 */
import { closeSync, constants as fsc } from "node:fs";
import { AT, O, RESOLVE, SysError, mkdirat, openat, openat2 } from "@box/sys";

export class RootDir {
  readonly path: string;
  readonly fd: number;

  constructor(path: string) {
    this.path = path;
    this.fd = openat2(AT.FDCWD, path, O.PATH | O.DIRECTORY | O.CLOEXEC, 0);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** O_PATH fd of PATH inside the root, or null if it does not exist. */
  open(path: string, flags: number = O.PATH): number | null {
    try {
      return openat2(this.fd, path, flags | O.CLOEXEC, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
    } catch (e) {
      if (e instanceof SysError && e.code === "ENOENT") return null;
      throw e;
    }
  }

  /** mkdir -p inside the root; returns an O_PATH fd of the directory. */
  mkdirp(path: string, mode = 0o755): number {
    const parts = path.split("/").filter((p) => p && p !== ".");
    let fd = openat2(this.fd, "/", O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.IN_ROOT);
    try {
      let sofar = "";
      for (const name of parts) {
        sofar += "/" + name;
        let next = this.open(sofar, O.PATH | O.DIRECTORY);
        if (next === null) {
          if (name === "..") throw new SysError("mkdirat", 2, sofar, () => "no such file or directory");
          try {
            mkdirat(fd, name, mode);
          } catch (e) {
            if (!(e instanceof SysError && e.code === "EEXIST")) throw e;
          }
          next = openat2(this.fd, sofar, O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
        }
        closeSync(fd);
        fd = next;
      }
      return fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Create an empty file (and its parents) unless something is there; O_PATH fd of it. */
  touch(path: string, mode = 0o644): number {
    const existing = this.open(path);
    if (existing !== null) return existing;
    const slash = path.lastIndexOf("/");
    const dir = this.mkdirp(path.slice(0, slash) || "/");
    try {
      const fd = openat(dir, path.slice(slash + 1), O.CREAT | O.WRONLY | O.NOFOLLOW | O.CLOEXEC, mode);
      closeSync(fd);
    } catch (e) {
      if (!(e instanceof SysError && e.code === "EEXIST")) throw e;
    } finally {
      closeSync(dir);
    }
    const fd = this.open(path);
    if (fd === null) throw new SysError("openat2", 2, path, () => "no such file or directory");
    return fd;
  }

  /** Read a small file inside the root (e.g. /etc/passwd), or null if absent. */
  readFile(path: string): string | null {
    const fd = this.open(path, O.RDONLY);
    if (fd === null) return null;
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(65536);
      for (;;) {
        const n = readSyncFd(fd, buf);
        if (n <= 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
      return Buffer.concat(chunks).toString("utf8");
    } finally {
      closeSync(fd);
    }
  }
}

import { readSync } from "node:fs";
function readSyncFd(fd: number, buf: Buffer): number {
  return readSync(fd, buf, 0, buf.length, null);
}

/** The path through which the kernel reaches an fd's file: mount(2) follows it. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

export const S_IFMT = fsc.S_IFMT;
