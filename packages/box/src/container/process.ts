/**
 * Is a container's process still the one we started? A pid alone can be
 * reused; the pid with its start time (field 22 of /proc/PID/stat) cannot.
 */
import { readFileSync, writeFileSync, renameSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BoxPaths } from "../paths.js";
import { containerRunDir } from "../paths.js";

export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function recordPid(p: BoxPaths, id: string, pid: number): void {
  const dir = containerRunDir(p, id);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `pid.${process.pid}.tmp`);
  writeFileSync(tmp, `${pid} ${startTime(pid) ?? ""}\n`);
  renameSync(tmp, join(dir, "pid"));
}

/** The container's live pid, or undefined if it is gone. */
export function livePid(p: BoxPaths, id: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(containerRunDir(p, id), "pid"), "utf8");
  } catch {
    return undefined;
  }
  const [pidText, start] = text.trim().split(" ");
  const pid = Number(pidText);
  if (!pid || startTime(pid) !== start) return undefined;
  return pid;
}
