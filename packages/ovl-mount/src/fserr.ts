import { SysError, errnoValue } from "@box/sys";

/**
 * Node's fs errors read `ENOENT: no such file or directory, lstat '/x'`; the
 * house style is `lstat /x: ENOENT (no such file or directory)`. Errors that
 * are not from fs pass through untouched.
 */
export function fsError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.code !== "string" || typeof e.syscall !== "string") return err;
  const desc = /^[A-Z0-9]+: ([^,]*)/.exec(e.message)?.[1] ?? e.code;
  const errno = errnoValue(e.code as Parameters<typeof errnoValue>[0]) ?? 0;
  return new SysError(e.syscall, errno, e.path ?? "", () => desc);
}

/** Run a Node fs call and rethrow its error in the house style. */
export function fsCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fsError(err);
  }
}
