/**
 * A container's cgroup, through @box/cgset: `box/ID` below the caller's own
 * cgroup (on v1 in each hierarchy), made right before ns-init runs and
 * removed when the container stops for good or is removed.
 */
import { readFileSync } from "node:fs";
import { createCgroup, openCgroup, type Cgroup, type Limits } from "@box/cgset";

/**
 * Where containers' cgroups go: `box` unless BOX_CGROUP_PARENT names another
 * (a relative path, like Docker's --cgroup-parent); tests give each harness
 * its own, so that a cgroup one of them leaks is found and named.
 */
export function cgroupPathOf(id: string, env: NodeJS.ProcessEnv = process.env): string {
  const parent = (env.BOX_CGROUP_PARENT || "box").replace(/^\/+|\/+$/g, "");
  return `${parent}/${id}`;
}

/** Make the container's cgroup with Docker's default device allow-list; one left by an earlier run goes first. */
export function makeCgroup(path: string, limits: Limits): Cgroup {
  removeCgroupQuietly(path);
  return createCgroup(path, limits, { devicesDefault: true });
}

/** The cgroup at path, or undefined when it does not exist (or no hierarchy is mounted). */
export function findCgroup(path: string | undefined): Cgroup | undefined {
  if (!path) return undefined;
  try {
    return openCgroup(path);
  } catch {
    return undefined;
  }
}

/** Kill what is left in it and remove it; a cgroup already gone is fine. */
export function removeCgroup(path: string | undefined): void {
  // The empty `box` parent goes too, so an idle host keeps no trace of box.
  findCgroup(path)?.remove({ kill: true, recursive: true, parents: true });
}

export function removeCgroupQuietly(path: string | undefined): void {
  try {
    removeCgroup(path);
  } catch {
    // left for `box rm`, which tries again
  }
}

/** Whether the freezer holds the cgroup: v1 freezer.state FROZEN or FREEZING, v2 cgroup.freeze 1. */
export function isFrozen(cg: Cgroup): boolean {
  for (const d of cg.dirs) {
    for (const [file, frozen] of [["freezer.state", /^FROZEN|^FREEZING/], ["cgroup.freeze", /^1/]] as const) {
      try {
        if (frozen.test(readFileSync(`${d}/${file}`, "utf8").trim())) return true;
      } catch {
        // not this hierarchy's file
      }
    }
  }
  return false;
}
