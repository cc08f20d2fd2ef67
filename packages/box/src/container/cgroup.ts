/**
 * A container's cgroup, through @box/cgset: `box/ID` below the caller's own
 * cgroup (on v1 in each hierarchy), made right before ns-init runs and
 * removed when the container stops for good or is removed.
 */
import { readFileSync } from "node:fs";
import { createCgroup, openCgroup, type Cgroup, type Limits } from "@box/cgset";

/** box's own parent for containers' cgroups: `box`, or BOX_CGROUP_PARENT (tests give each harness its own, so a leaked cgroup is found and named). */
function defaultParent(env: NodeJS.ProcessEnv): string {
  return (env.BOX_CGROUP_PARENT || "box").replace(/^\/+|\/+$/g, "");
}

/**
 * Where a container's cgroup goes: PARENT/ID. PARENT is Docker's
 * --cgroup-parent when given (relative to the caller's own cgroup, or to the
 * hierarchy's root when it starts with `/`, as cgset takes paths), else
 * box's own parent below the caller's cgroup.
 */
export function cgroupPathOf(id: string, cgroupParent?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (cgroupParent) return `${cgroupParent.replace(/\/+$/, "").replace(/^\/+/, "/")}/${id}`;
  return `${defaultParent(env)}/${id}`;
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
export function removeCgroup(path: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  // box's own empty parent goes too, so an idle host keeps no trace of box; a
  // --cgroup-parent is the user's, and stays, as with Docker.
  const ours = path !== undefined && path.slice(0, path.lastIndexOf("/")) === defaultParent(env);
  findCgroup(path)?.remove({ kill: true, recursive: true, parents: ours });
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
