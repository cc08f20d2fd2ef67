import { libc, errno } from "./libc.js";
import { SysError } from "./errno.js";

export function describe(e: number): string {
  return String(libc.strerror(e)).toLowerCase();
}

/**
 * Turn a -1 return into a SysError. errno is read here, immediately after the
 * call, before anything else can overwrite it.
 */
export function check(ret: number | bigint, syscall: string, detail: () => string): number {
  const n = Number(ret);
  if (n < 0) throw new SysError(syscall, errno(), detail(), describe);
  return n;
}
