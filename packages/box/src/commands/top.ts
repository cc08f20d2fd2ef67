/** box top CONTAINER [ps OPTIONS]: the host's ps, narrowed to the container's processes. */
import { readdirSync, readlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { parseArgs, UsageError, ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { getContainer } from "../container/ops.js";

/**
 * Host pids in the container's PID namespace: the one pid's children are
 * in (pid_for_children), which for a remapped container's recorded pid, ns-init's
 * relay outside it, is the container's, and otherwise its own.
 */
export function containerPids(pid: number): number[] {
  const ns = readlinkSync(`/proc/${pid}/ns/pid_for_children`);
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

export async function topCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { stopEarly: true });
  const [ref, ...psArgs] = a.rest;
  if (!ref) throw new UsageError('"box top" requires at least 1 argument');
  const c = getContainer(p, ref);
  if (!c.state.Running || !c.state.Pid) throw new ExitError(`container ${c.id} is not running`, 1);
  const pids = new Set(containerPids(c.state.Pid));
  const r = spawnSync("ps", psArgs.length ? psArgs : ["-ef"], { encoding: "utf8" });
  if (r.status !== 0) throw new ExitError(`ps ${psArgs.join(" ")}: ${r.stderr.trim() || `exit status ${r.status}`}`, 1);
  const lines = r.stdout.split("\n").filter(Boolean);
  const header = lines[0] ?? "";
  const col = header.trim().split(/\s+/).indexOf("PID");
  if (col < 0) throw new ExitError(`ps ${psArgs.join(" ")}: no PID column in its output`, 1);
  process.stdout.write(header + "\n");
  for (const l of lines.slice(1)) if (pids.has(Number(l.trim().split(/\s+/)[col]))) process.stdout.write(l + "\n");
  return 0;
}
