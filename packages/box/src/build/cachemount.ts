/**
 * The host directory of a `RUN --mount=type=cache`, by BuildKit's sharing
 * modes: `shared` (the default) one directory for every writer at once;
 * `locked` one writer at a time, the others wait; `private` a directory of
 * its own for each concurrent writer, kept for later steps (NAME, NAME.1,
 * NAME.2...). The lock is a file beside each directory, never in it, so the
 * step does not see it; it is held until the step's undo runs.
 */
import { chmodSync, chownSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { LOCK, SysError, flock } from "@box/sys";
import type { RunMount } from "./mounts.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ensureDir(dir: string, m: RunMount): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return;
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    return ensureDir(dir, m);
  }
  chownSync(dir, m.uid ?? 0, m.gid ?? 0);
  chmodSync(dir, m.mode ?? 0o755);
}

/** Take the lock without blocking the builder's thread: false if another holds it. */
function tryLock(fd: number, dir: string): boolean {
  try {
    flock(fd, LOCK.EX | LOCK.NB, `${dir}.lock`);
    return true;
  } catch (e) {
    if (e instanceof SysError && e.code === "EAGAIN") return false;
    throw e;
  }
}

/** The directory to bind for `m` below `base`; `hold` gets what gives the lock back. */
export async function cacheMountDir(base: string, m: RunMount, hold: (release: () => void) => void): Promise<string> {
  if (m.sharing === undefined || m.sharing === "shared") {
    ensureDir(base, m);
    return base;
  }
  for (let i = 0; ; i++) {
    const dir = i === 0 ? base : `${base}.${i}`;
    ensureDir(dir, m);
    const fd = openSync(`${dir}.lock`, "a");
    let locked = tryLock(fd, dir);
    // locked: wait for the writer before us (polled: a blocking flock would stop the whole build).
    if (m.sharing === "locked") while (!locked) locked = (await sleep(50), tryLock(fd, dir));
    if (locked) {
      hold(() => closeSync(fd));
      return dir;
    }
    closeSync(fd);
  }
}
