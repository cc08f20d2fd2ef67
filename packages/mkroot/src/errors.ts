import { getSystemErrorMap } from "node:util";
import { ExitError } from "@box/cli";

/** The image a reference names is not in the store. Exit 1 for mkroot; box maps it to 125. */
export class NoSuchImageError extends ExitError {
  readonly reference: string;
  constructor(reference: string) {
    super(`No such image: ${reference}`, 1);
    this.name = "NoSuchImageError";
    this.reference = reference;
  }
}

/** An ID prefix that matches more than one image. */
export class AmbiguousImageError extends ExitError {
  constructor(prefix: string, matches: number) {
    super(`${prefix}: prefix matches ${matches} images; give more of the ID`, 1);
    this.name = "AmbiguousImageError";
  }
}

/** `rm ID` of an image that still has several names, without --force (as `docker rmi`). */
export class ImageConflictError extends ExitError {
  constructor(id: string, names: string[]) {
    super(
      `conflict: unable to delete ${id.replace(/^sha256:/, "").slice(0, 12)} (must be forced) - image is referenced in multiple repositories (${names.join(", ")})`,
      1,
    );
    this.name = "ImageConflictError";
  }
}

const systemErrors = getSystemErrorMap();

/**
 * Node's fs errors read `ENOENT: no such file or directory, open '/x'`; the house style is
 * `open /x: ENOENT (no such file or directory)`. Anything else passes through unchanged.
 */
export function fsError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e.syscall !== "string" || typeof e.code !== "string" || typeof e.errno !== "number") return err;
  if (e.name === "SysError") return err;
  const what = [e.path, e.dest].filter((p): p is string => typeof p === "string").join(" -> ");
  const desc = systemErrors.get(e.errno)?.[1] ?? e.code;
  const out = new Error(`${e.syscall}${what ? ` ${what}` : ""}: ${e.code} (${desc})`) as NodeJS.ErrnoException;
  out.code = e.code;
  out.errno = e.errno;
  out.syscall = e.syscall;
  if (e.path !== undefined) out.path = e.path;
  return out;
}

/** The errno code of a Node fs error or a @box/sys SysError, if it is one. */
export function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}
