/**
 * What a run's -v specs name as volumes, made binds: a named volume is made
 * on first use, an anonymous one (-v /path) each run, and a volume made now
 * is filled with what the image has at its target (Docker's copy-up; `nocopy`
 * skips it). The image's view comes from a detached read-only overlay of its
 * layers, and the target is resolved inside it (openat2 RESOLVE_IN_ROOT): a
 * symlink in the image cannot make the copy read the host.
 */
import { spawnSync } from "node:child_process";
import { chownSync, closeSync, fstatSync, openSync } from "node:fs";
import { O, RESOLVE, openat2 } from "@box/sys";
import type { BindMount } from "@box/ns-exec";
import { openOverlay } from "@box/ovl-mount";
import type { BoxPaths } from "../paths.js";
import { createVolume, removeVolume, volumeData } from "../container/volumes.js";

/**
 * Point the binds that name volumes at their data, making them as needed;
 * `specs` (the -v flags, in the same order as the first binds) get the
 * anonymous volumes' names, as the record keeps them. Returns the volumes
 * made, for the caller to remove if the run fails before it is recorded.
 */
export function resolveVolumes(paths: BoxPaths, binds: (BindMount & { volume?: string })[], specs: string[], layers: string[], opts: { copy: boolean; owner?: { uid: number; gid: number } }): string[] {
  const made: string[] = [];
  try {
    binds.forEach((b, i) => {
      if (b.volume === undefined) return;
      const { name, created } = createVolume(paths, b.volume || undefined);
      if (created) made.push(name);
      if (b.volume === "") specs[i] = `${name}:${b.target}`;
      b.source = volumeData(paths, name);
      delete b.volume;
      if (created && opts.copy && !/:(.*,)?nocopy(,|$)/.test(specs[i]!)) copyUp(layers, b.target, b.source);
      if (created && opts.owner) chownSync(b.source, opts.owner.uid, opts.owner.gid);
    });
  } catch (e) {
    for (const v of made) removeVolume(paths, v, true);
    throw e;
  }
  return made;
}

/** Copy what the image holds at `target` (a directory) into `dest`, owners and modes as they are. */
function copyUp(layers: string[], target: string, dest: string): void {
  if (layers.length === 0) return;
  // overlayfs wants two lower layers without an upper; one layer is its own view.
  const root = layers.length === 1 ? openSync(layers[0]!, O.PATH | O.DIRECTORY | O.CLOEXEC) : openOverlay({ lower: layers, readonly: true });
  let dir: number | undefined;
  try {
    try {
      dir = openat2(root, target.replace(/^\/+/, "") || ".", O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
    } catch {
      return; // not in the image, or not a directory: an empty volume, as Docker
    }
    if (!fstatSync(dir).isDirectory()) return;
    const cp = spawnSync("cp", ["-a", "--", `/proc/${process.pid}/fd/${dir}/.`, dest], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    if (cp.error || cp.status !== 0) throw new Error(`copy ${target} of the image into volume ${dest}: ${cp.error?.message ?? cp.stderr.trim()}`);
  } finally {
    if (dir !== undefined) closeSync(dir);
    closeSync(root);
  }
}
