import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { constants } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { flock, LOCK, SysError } from "@box/sys";
import { fsError } from "./errors.js";

export type LockMode = "shared" | "exclusive";

/**
 * Run `fn` holding flock(2) on `file` (created if missing). The lock is taken with LOCK_NB and
 * retried on a timer rather than blocking: a blocking flock would stall the event loop, and two
 * callers in one process (box importing two images at once) each hold their own open file
 * description, so the second would block the thread the first needs to finish and unlock.
 */
export async function withLock<T>(file: string, mode: LockMode, fn: () => Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600) // Node adds O_CLOEXEC itself;
  } catch (e) {
    throw fsError(e);
  }
  try {
    const op = (mode === "exclusive" ? LOCK.EX : LOCK.SH) | LOCK.NB;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        flock(fd, op, file);
        break;
      } catch (e) {
        if (!(e instanceof SysError) || (e.errno !== constants.errno.EWOULDBLOCK && e.errno !== constants.errno.EINTR)) throw e;
      }
      await sleep(delay);
    }
    return await fn();
  } finally {
    // Closing the last descriptor of the open file description drops the lock.
    closeSync(fd);
  }
}
