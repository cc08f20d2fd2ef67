/**
 * What the lifecycle verbs share: find a container, signal it, wait for it,
 * and take it down for good. Every step that changes a container holds its
 * lock (withContainerLock).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants as osc } from "node:os";
import { ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { containerRunDir } from "../paths.js";
import { resolveContainer, NoSuchContainerError } from "./lookup.js";
import { isAlive, liveState, loadRecord, removeContainerDirs, readRuntime, withContainerLock, type ContainerRecord, type LiveState } from "./state.js";
import { lookupName, releaseName } from "./names.js";
import { dropEndpointQuietly } from "../run/endpoint.js";
import { cgroupPathOf, findCgroup, removeCgroupQuietly } from "./cgroup.js";

export interface Ctr {
  id: string;
  rec: ContainerRecord;
  state: LiveState;
}

export function getContainer(p: BoxPaths, ref: string): Ctr {
  const id = resolveContainer(p, ref);
  let rec: ContainerRecord;
  try {
    rec = loadRecord(p, id);
  } catch {
    throw new NoSuchContainerError(ref);
  }
  return { id, rec, state: liveState(p, id, rec) };
}

export function refresh(p: BoxPaths, c: Ctr): Ctr {
  const rec = loadRecord(p, c.id);
  return { id: c.id, rec, state: liveState(p, c.id, rec) };
}

export function locked<T>(p: BoxPaths, ref: string, fn: (c: Ctr) => Promise<T>): Promise<T> {
  const id = resolveContainer(p, ref);
  return withContainerLock(p, id, () => new NoSuchContainerError(ref), () => fn(getContainer(p, id)));
}

/** "SIGTERM", "TERM", "15" -> 15. */
export function signalNumber(s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw new ExitError(`invalid signal: ${s}`, 1);
    return n;
  }
  const name = s.toUpperCase().startsWith("SIG") ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  const n = (osc.signals as Record<string, number>)[name];
  if (n === undefined) throw new ExitError(`invalid signal: ${s}`, 1);
  return n;
}

/** Tell the monitor not to apply the restart policy to the coming exit. */
export function markStopped(p: BoxPaths, id: string): void {
  const dir = containerRunDir(p, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "stop"), "");
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until the container is down and its exit is on record (or known to
 * be lost). Resolves to false on timeout.
 */
export async function waitExited(p: BoxPaths, id: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    const s = liveState(p, id, loadRecord(p, id));
    if (!s.Running && !s.Restarting && s.Status !== "created") return true;
    if (s.Status === "created" && !s.MonitorAlive) return true;
    if (Date.now() > end) return false;
    await sleep(s.Settling ? 5 : 25);
  }
}

/** The watcher of the container (box-monitor, or a foreground box), if alive. */
export function monitorPid(p: BoxPaths, id: string): number | undefined {
  const s = readRuntime(p, id);
  return s && isAlive(s.MonitorPid, s.MonitorStart) ? s.MonitorPid : undefined;
}

function tryKill(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stop: the stop signal, then SIGKILL after `timeout` seconds, as docker
 * stop. Returns once the exit is recorded. Caller holds the lock.
 */
export async function stopContainer(p: BoxPaths, c: Ctr, timeout: number, signal?: string): Promise<void> {
  markStopped(p, c.id);
  if (!c.state.Running && !c.state.Restarting) return;
  if (c.state.Running && c.state.Pid) {
    tryKill(c.state.Pid, signalNumber(signal ?? c.rec.StopSignal ?? "SIGTERM"));
    // A paused container cannot act on the signal; Docker thaws it after sending.
    if (c.state.Paused) thawQuietly(c.rec);
    if (await waitExited(p, c.id, timeout * 1000)) return;
    const s = liveState(p, c.id, c.rec);
    if (s.Running && s.Pid) tryKill(s.Pid, "SIGKILL");
  }
  if (!(await waitExited(p, c.id, 10_000))) throw new ExitError(`container ${c.id.slice(0, 12)} did not stop after SIGKILL`, 1);
}

/**
 * Kill everything of a container (its PID 1, its monitor, a start stage
 * under way) and remove its state and name. Caller holds the lock.
 */
export async function destroyContainer(p: BoxPaths, c: Ctr): Promise<void> {
  markStopped(p, c.id);
  if (c.state.Running && c.state.Pid) tryKill(c.state.Pid, "SIGKILL");
  // On cgroup v1 a frozen task does not even die of SIGKILL until thawed.
  if (c.state.Paused) thawQuietly(c.rec);
  const mon = monitorPid(p, c.id);
  if (mon !== undefined && mon !== process.pid) {
    // The monitor records the exit and leaves; if it does not, its whole
    // process group goes (the start stage and a container not yet known).
    const end = Date.now() + 3000;
    while (isMonitorAlive(p, c.id) && Date.now() < end) await sleep(10);
    if (isMonitorAlive(p, c.id)) {
      // Only box-monitor leads a session of its own; a foreground box's group is its shell's job.
      if (sessionOf(mon) === mon) tryKill(-mon, "SIGKILL");
      tryKill(mon, "SIGKILL");
      while (isMonitorAlive(p, c.id) && Date.now() < end + 3000) await sleep(10);
    }
  }
  const s = liveState(p, c.id, c.rec);
  if (s.Running && s.Pid && !s.Settling) {
    tryKill(s.Pid, "SIGKILL");
    const end = Date.now() + 5000;
    while (isAlive(s.Pid, readRuntime(p, c.id)?.PidStart ?? "") && Date.now() < end) await sleep(10);
  }
  dropEndpointQuietly(c.id);
  removeCgroupQuietly(c.rec.CgroupPath ?? cgroupPathOf(c.id));
  removeContainerDirs(p, c.id);
  const name = c.rec.Name.replace(/^\//, "");
  if (lookupName(p, name) === c.id) releaseName(p, name);
}

function sessionOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  } catch {
    return undefined;
  }
}

function isMonitorAlive(p: BoxPaths, id: string): boolean {
  return monitorPid(p, id) !== undefined;
}

export function removeRunMarker(p: BoxPaths, id: string): void {
  rmSync(join(containerRunDir(p, id), "stop"), { force: true });
}

function thawQuietly(rec: ContainerRecord): void {
  try {
    findCgroup(rec.CgroupPath)?.thaw();
  } catch {
    // gone meanwhile
  }
}
