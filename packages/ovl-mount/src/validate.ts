import path from "node:path";
import { UsageError } from "@box/cli";

/** One overlay mount, as box and `ovl-mount --spec` describe it. */
export interface OverlaySpec {
  /** Lower directories, TOP FIRST, the order `mkroot layers` prints them in. */
  lower: string[];
  /** Writable upper directory; without it the mount is read-only. */
  upper?: string;
  /** overlayfs' scratch directory; on the same file system as upper, and empty. */
  work?: string;
  /** Where the merged tree appears. */
  target: string;
  /** Mount read-only even with an upper. */
  readonly?: boolean;
  /**
   * A user namespace file (/proc/PID/ns/user): the lower layers are mounted
   * idmapped with its maps, so that a file owned by 0 in a layer shows as
   * the host id that 0 maps to (root of a remapped container).
   */
  idmap?: string;
}

/**
 * The kernel's limit on lower layers (OVL_MAX_STACK in fs/overlayfs/params.h,
 * 500 since Linux 3.18). Checking it here gives a message that names the limit
 * instead of the kernel's bare EINVAL.
 */
export const MAX_LOWERS = 500;

function within(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function checkPath(what: string, p: unknown): string {
  if (typeof p !== "string" || p === "") throw new UsageError(`${what}: must be a non-empty path`);
  // koffi passes C strings: a NUL would silently cut the path short.
  if (p.includes("\0")) throw new UsageError(`${what}: path contains a NUL byte`);
  if (!path.isAbsolute(p)) throw new UsageError(`${what} '${p}': must be an absolute path`);
  return p;
}

/**
 * Pure checks on a spec: nothing is looked up on disk, nothing is created.
 * Throws UsageError (exit status 2 in the CLI). Existence is checkPaths' job.
 */
export function validate(spec: OverlaySpec): void {
  if (spec === null || typeof spec !== "object") throw new UsageError("spec: must be an object");
  if (!Array.isArray(spec.lower)) throw new UsageError("spec: lower must be a list of directories");
  if (spec.lower.length === 0) throw new UsageError("no lower directory given");
  if (spec.lower.length > MAX_LOWERS) {
    throw new UsageError(`${spec.lower.length} lower directories given; overlayfs stacks at most ${MAX_LOWERS}`);
  }
  spec.lower.forEach((l, i) => checkPath(`lower #${i + 1}`, l));
  checkPath("target", spec.target);
  if (spec.idmap !== undefined) checkPath("idmap", spec.idmap);
  if (spec.readonly !== undefined && typeof spec.readonly !== "boolean") {
    throw new UsageError("spec: readonly must be true or false");
  }
  if (spec.upper !== undefined || spec.work !== undefined) {
    if (spec.upper === undefined) throw new UsageError("a work directory is only used with an upper directory");
    if (spec.work === undefined) throw new UsageError("an upper directory needs a work directory");
    const upper = path.resolve(checkPath("upper", spec.upper));
    const work = path.resolve(checkPath("work", spec.work));
    // The kernel refuses these too, but only as EINVAL/EBUSY after fsopen.
    if (within(work, upper) || within(upper, work)) {
      throw new UsageError(`upper '${spec.upper}' and work '${spec.work}' must be separate directories, neither inside the other`);
    }
    for (const l of spec.lower) {
      const lower = path.resolve(l);
      if (within(lower, upper) || within(upper, lower)) {
        throw new UsageError(`lower '${l}' and upper '${spec.upper}' overlap`);
      }
      if (within(lower, work) || within(work, lower)) {
        throw new UsageError(`lower '${l}' and work '${spec.work}' overlap`);
      }
    }
  }
}
