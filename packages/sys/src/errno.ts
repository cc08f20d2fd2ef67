import { constants } from "node:os";

const names = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  if (!names.has(num)) names.set(num, name);
}

/** The symbolic name of an errno value, e.g. 1 -> "EPERM". */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}

/** Numeric value of an errno name, e.g. "ENOENT" -> 2. */
export function errnoValue(name: keyof typeof constants.errno): number {
  return constants.errno[name];
}

/**
 * A failed system call. The message names the call, what it acted on and the
 * errno, as crun does: `mount src=overlay dst=/x flags=MS_RDONLY: EPERM (operation not permitted)`.
 */
export class SysError extends Error {
  readonly syscall: string;
  readonly errno: number;
  readonly code: string;
  readonly detail: string;

  constructor(syscall: string, errno: number, detail: string, describe: (e: number) => string) {
    const code = errnoName(errno);
    super(`${syscall}${detail ? " " + detail : ""}: ${code} (${describe(errno)})`);
    this.name = "SysError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
    this.detail = detail;
  }
}
