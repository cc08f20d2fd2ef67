import fs from "node:fs";
import { fsCall } from "./fserr.js";
import type { OverlaySpec } from "./validate.js";

function dir(what: string, p: string): fs.Stats {
  // stat, not lstat: overlayfs follows symlinks to layers, and so do we.
  const st = fsCall(() => fs.statSync(p));
  if (!st.isDirectory()) throw new Error(`${what} ${p}: not a directory`);
  return st;
}

/**
 * The checks that look at the disk, run after validate() and before anything
 * is mounted: every directory exists, and upper and work share a file system
 * (overlayfs renames from work into upper, so it insists on one mount).
 */
export function checkPaths(spec: OverlaySpec): void {
  for (const l of spec.lower) dir("lower", l);
  dir("target", spec.target);
  if (spec.idmap !== undefined) fsCall(() => fs.statSync(spec.idmap!));
  if (spec.upper !== undefined && spec.work !== undefined) {
    const upper = dir("upper", spec.upper);
    const work = dir("work", spec.work);
    if (upper.dev !== work.dev) {
      throw new Error(`upper ${spec.upper} and work ${spec.work} are on different file systems; overlayfs needs them on one`);
    }
  }
}
