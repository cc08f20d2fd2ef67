// What a cgroup below this process's own can limit, as `cgset info` reports it: every v1
// controller on these CI machines; on a v2 host only what was delegated to the caller's
// cgroup (one such host delegates memory alone). Tests of a limit the host cannot give skip,
// and say so, rather than fail on the host's setup.
import { spawnSync } from "node:child_process";
import { binPath, isBuilt } from "./harness.js";

export type Limitable = "memory" | "pids" | "cpu" | "cpuset" | "io";

let controllers: Set<string> | undefined;

export function canLimit(c: Limitable): boolean {
  if (!controllers) {
    controllers = new Set();
    if (isBuilt("cgset")) {
      const r = spawnSync(binPath("cgset"), ["info"], { encoding: "utf8" });
      for (const line of (r.stdout ?? "").split("\n").slice(1)) for (const name of line.split(" ")[0]!.split(",")) controllers.add(name);
    }
  }
  return controllers.has(c) || (c === "io" && controllers.has("blkio"));
}
