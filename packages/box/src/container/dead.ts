/**
 * Dead containers. A `box run` or `box create` killed after its container's
 * directory appeared and before its record was written leaves a directory
 * with no config.json whose lock nobody holds (createContainerDirs locks it
 * before the directory shows). Docker calls such a container "Dead": `ps -a`
 * lists it and `rm` removes it; no other verb can act on it.
 */
import { closeSync, existsSync, openSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { LOCK, SysError, flock } from "@box/sys";
import type { BoxPaths } from "../paths.js";
import { containerDir } from "../paths.js";
import { removeContainerDirs, type ContainerRecord } from "./state.js";
import { namesOf, releaseName } from "./names.js";
import { cgroupPathOf, removeCgroupQuietly } from "./cgroup.js";
import { dropEndpointQuietly } from "../run/endpoint.js";

/** The directory of ID: its final place, or the staging one it was killed in. */
function dirOf(p: BoxPaths, id: string): string {
  const dir = containerDir(p, id);
  return existsSync(dir) ? dir : join(p.root, "containers", `.new-${id}`);
}

/**
 * Run fn holding ID's lock if ID has no record; undefined if it has one, is
 * being made (the lock is held and `wait` is false) or is already gone.
 */
function withDeadLock<T>(p: BoxPaths, id: string, wait: boolean, fn: (dir: string) => T): T | undefined {
  const dir = dirOf(p, id);
  if (existsSync(join(dir, "config.json"))) return undefined;
  let fd: number;
  try {
    // Never created here: a lock file that is gone means rm is taking the directory away.
    fd = openSync(join(dir, "lock"), "r");
  } catch {
    return undefined;
  }
  try {
    try {
      flock(fd, wait ? LOCK.EX : LOCK.EX | LOCK.NB, `lock of container ${id.slice(0, 12)}`);
    } catch (e) {
      if (e instanceof SysError && e.code === "EAGAIN") return undefined;
      throw e;
    }
    if (existsSync(join(dir, "config.json")) || !existsSync(dir)) return undefined;
    return fn(dir);
  } finally {
    closeSync(fd);
  }
}

/** A record for `ps` to show a dead container by, or undefined if ID is not dead. */
export function deadRecord(p: BoxPaths, id: string): ContainerRecord | undefined {
  return withDeadLock(p, id, false, (dir) => {
    const name = namesOf(p, id)[0] ?? "";
    return {
      Id: id,
      Name: `/${name}`,
      Created: statSync(dir).mtime.toISOString(),
      Image: "",
      ImageName: "",
      Path: "",
      Args: [],
      Config: { Hostname: "", User: "", Env: [], Cmd: null, Entrypoint: null, WorkingDir: "", Image: "", Tty: false, OpenStdin: false },
      HostConfig: { AutoRemove: false, ReadonlyRootfs: false, NetworkMode: "", Binds: [], Tmpfs: {}, Init: false },
      State: { Status: "dead", Running: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: "", FinishedAt: "", OOMKilled: false },
    };
  });
}

/**
 * Remove ID if it is dead, with whatever its maker may have begun; false if
 * it has a record (waiting for a maker that holds the lock to finish first).
 */
export function removeIfDead(p: BoxPaths, id: string): boolean {
  return (
    withDeadLock(p, id, true, () => {
      dropEndpointQuietly(id);
      removeCgroupQuietly(cgroupPathOf(id));
      removeContainerDirs(p, id);
      rmSync(join(p.root, "containers", `.new-${id}`), { recursive: true, force: true });
      for (const name of namesOf(p, id)) releaseName(p, name);
      return true;
    }) ?? false
  );
}
