import { libc } from "./libc.js";
import { check } from "./check.js";

export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

/**
 * flock(2) on an open fd. Blocking: it holds the main thread, which is what a
 * short critical section between processes wants.
 */
export function flock(fd: number, op: number, what = ""): void {
  check(libc.flock(fd, op), "flock", () => what || `fd=${fd}`);
}
