/**
 * Every file operation cgset makes on cgroupfs goes through Io, so unit tests
 * can run a whole create or update against an in-memory tree and check each
 * write, without root. The real one is synchronous on purpose: box calls
 * cgset on its main thread between unshare and spawn (STYLE.md, "Respect
 * threads").
 */
import fs from "node:fs";
import { getSystemErrorMap } from "node:util";

/** A failed file operation: `write /sys/fs/cgroup/.../memory.max: EINVAL (invalid argument)`. */
export class IoError extends Error {
  readonly op: string;
  readonly path: string;
  readonly code: string;
  constructor(op: string, path: string, code: string, description: string) {
    super(`${op} ${path}: ${code} (${description})`);
    this.name = "IoError";
    this.op = op;
    this.path = path;
    this.code = code;
  }
}

export interface Io {
  read(file: string): string;
  /** One write(2) of the whole value: cgroupfs takes one setting (one device rule) per write. */
  write(file: string, value: string): void;
  exists(path: string): boolean;
  /** mkdir(2); throws IoError EEXIST when it is there. */
  mkdir(dir: string): void;
  rmdir(dir: string): void;
  /** Names of the subdirectories (child cgroups) of dir. */
  subdirs(dir: string): string[];
  /**
   * write, with the write(2) itself on libuv's thread pool: the file is
   * opened here, the write is queued at once and runs while the caller's
   * thread goes on (a v1 cgroup.procs write waits out an RCU grace period).
   */
  writeInBackground?(file: string, value: string): Promise<void>;
}

let errnoMap: Map<number, [string, string]> | undefined;

function wrap(op: string, path: string, err: unknown): IoError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? "EIO";
  errnoMap ??= getSystemErrorMap();
  const desc = (e.errno !== undefined ? errnoMap.get(e.errno)?.[1] : undefined) ?? e.message;
  return new IoError(op, path, code, desc.toLowerCase());
}

export const realIo: Io = {
  read(file) {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (e) {
      throw wrap("read", file, e);
    }
  },
  write(file, value) {
    let fd: number;
    try {
      // O_WRONLY without O_CREAT: a missing file is ENOENT, not an attempt to create one.
      fd = fs.openSync(file, fs.constants.O_WRONLY);
    } catch (e) {
      throw wrap("open", file, e);
    }
    try {
      fs.writeSync(fd, value);
    } catch (e) {
      throw wrap("write", file, e);
    } finally {
      fs.closeSync(fd);
    }
  },
  writeInBackground(file, value) {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY);
    } catch (e) {
      return Promise.reject(wrap("open", file, e));
    }
    return new Promise<void>((resolve, reject) => {
      fs.write(fd, value, (e) => {
        fs.closeSync(fd);
        if (e) reject(wrap("write", file, e));
        else resolve();
      });
    });
  },
  exists(path) {
    return fs.existsSync(path);
  },
  mkdir(dir) {
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      throw wrap("mkdir", dir, e);
    }
  },
  rmdir(dir) {
    try {
      fs.rmdirSync(dir);
    } catch (e) {
      throw wrap("rmdir", dir, e);
    }
  },
  subdirs(dir) {
    try {
      return fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (e) {
      throw wrap("readdir", dir, e);
    }
  },
};

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block the calling thread: the waits here are short and the API is synchronous. */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Poll until test() is true or ms pass; true if it became true. */
export function waitFor(test: () => boolean, ms: number, step = 5): boolean {
  const end = Date.now() + ms;
  for (let delay = 1; ; delay = Math.min(delay * 2, step * 10)) {
    if (test()) return true;
    if (Date.now() >= end) return false;
    sleepMs(Math.min(delay, step * 10));
  }
}

export function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof IoError ? codes.includes(e.code) : codes.includes((e as NodeJS.ErrnoException)?.code ?? "");
}
