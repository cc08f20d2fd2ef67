/**
 * A container's record on disk: config.json under BOX_ROOT/containers/ID,
 * written atomically (write to a temp file, then rename) so a reader never
 * sees half a file.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { LOCK, flock } from "@box/sys";
import type { NsExecOptions } from "@box/ns-exec";
import type { Limits } from "@box/cgset";
import { findCgroup, isFrozen } from "./cgroup.js";
import type { NetPlan } from "../run/spec.js";
import { join } from "node:path";
import type { BoxPaths } from "../paths.js";
import { containerDir, containerRunDir } from "../paths.js";

export interface ContainerState {
  Status: "created" | "running" | "restarting" | "exited" | "dead";
  Running: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
}

/** Docker's HostConfig resource fields, as inspect shows them (0 or "" when not set). */
export interface DockerResources {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
}

/** Limits in Docker's HostConfig terms. */
export function dockerResources(l: Limits): DockerResources {
  return {
    Memory: l.memory ?? 0,
    MemorySwap: l.memorySwap ?? (l.memory ? 2 * l.memory : 0),
    MemoryReservation: l.memoryReservation ?? 0,
    NanoCpus: l.cpus !== undefined ? Math.round(l.cpus * 1e9) : 0,
    CpuShares: l.cpuShares ?? 0,
    CpuPeriod: l.cpuPeriod ?? 0,
    CpuQuota: l.cpuQuota ?? 0,
    CpusetCpus: l.cpusetCpus ?? "",
    CpusetMems: l.cpusetMems ?? "",
    PidsLimit: l.pidsLimit !== undefined && l.pidsLimit > 0 ? l.pidsLimit : null,
    BlkioWeight: l.blkioWeight ?? 0,
  };
}

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  ImageName: string;
  Path: string;
  Args: string[];
  Config: {
    Hostname: string;
    User: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    Image: string;
    Tty: boolean;
    OpenStdin: boolean;
  };
  HostConfig: {
    AutoRemove: boolean;
    ReadonlyRootfs: boolean;
    NetworkMode: string;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
    ExtraHosts?: string[] | null;
    Dns?: string[];
    Binds: string[];
    Tmpfs: Record<string, string>;
    Init: boolean;
    /** "host" when --userns=host opted out of a remap; "" otherwise. */
    UsernsMode?: string;
    /** --cgroup-parent as given; "" for box's own. */
    CgroupParent?: string;
    RestartPolicy?: { Name: string; MaximumRetryCount: number };
    LogConfig?: { Type: string; Config: Record<string, string> };
  } & DockerResources;
  /** The container's cgroup, as cgset takes it (relative to box's own cgroup): box/ID. */
  CgroupPath?: string;
  /** The limits its cgroup is made with at each start (run flags, then box update). */
  Limits?: Limits;
  /** Where box-monitor writes the json-file log (detached containers). */
  LogPath?: string;
  /** The signal `box stop` sends first (the image's StopSignal). */
  StopSignal?: string;
  State: ContainerState;
}

/**
 * The runtime record of a container, $BOX_RUN/containers/ID/state.json,
 * written (write+rename) by whoever watches the container: box-monitor for
 * a detached one, box itself for a foreground one.
 */
export interface RuntimeState {
  Status: "created" | "running" | "restarting" | "exited";
  Running: boolean;
  Pid: number;
  PidStart: string;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  RestartCount: number;
  MonitorPid: number;
  MonitorStart: string;
}

/** What box knows of a container now, from its runtime record and /proc. */
export interface LiveState extends ContainerState {
  Restarting: boolean;
  RestartCount: number;
  MonitorPid: number;
  MonitorAlive: boolean;
  /** The container died and its watcher is alive: the exit is being recorded. */
  Settling: boolean;
  /** Its cgroup is frozen (box pause). */
  Paused: boolean;
}

/** What the start stage needs: the ns-exec config and the image's layers. */
export interface SavedSpec {
  options: Omit<NsExecOptions, "caps"> & { caps?: string };
  layers: string[];
  /** The network endpoint to make before each start (bridge mode). */
  net?: NetPlan;
}

export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}

export function saveRecord(p: BoxPaths, rec: ContainerRecord): void {
  writeJsonAtomic(join(containerDir(p, rec.Id), "config.json"), rec);
}

export function loadRecord(p: BoxPaths, id: string): ContainerRecord {
  return JSON.parse(readFileSync(join(containerDir(p, id), "config.json"), "utf8")) as ContainerRecord;
}

export function listIds(p: BoxPaths): string[] {
  try {
    // A ".new-ID" is one whose maker was killed before it could be renamed into place (dead.ts).
    const ids = readdirSync(join(p.root, "containers")).map((d) => d.replace(/^\.new-/, ""));
    return [...new Set(ids.filter((d) => /^[0-9a-f]{64}$/.test(d)))];
  } catch {
    return [];
  }
}

/**
 * The directories of a new container: upper and work for the overlay, rootfs
 * for its mount point. The directory appears (rename) with its lock file
 * already locked by the caller, who closes lockFd once the record is saved:
 * until then `ps` and `rm` can tell a container being made (lock held) from
 * one whose maker was killed (lock free, no record: Docker's "Dead").
 */
export function createContainerDirs(p: BoxPaths, id: string): { dir: string; upper: string; work: string; rootfs: string; runDir: string; lockFd: number } {
  const dir = containerDir(p, id);
  const runDir = containerRunDir(p, id);
  const staging = join(p.root, "containers", `.new-${id}`);
  mkdirSync(staging, { recursive: true, mode: 0o710 });
  const lockFd = openSync(join(staging, "lock"), "a");
  try {
    flock(lockFd, LOCK.EX, `lock of container ${id.slice(0, 12)}`);
    for (const d of ["upper", "work", "rootfs"]) mkdirSync(join(staging, d));
    renameSync(staging, dir);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    closeSync(lockFd);
    rmSync(staging, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, upper: join(dir, "upper"), work: join(dir, "work"), rootfs: join(dir, "rootfs"), runDir, lockFd };
}

export function removeContainerDirs(p: BoxPaths, id: string): void {
  rmSync(containerDir(p, id), { recursive: true, force: true });
  rmSync(containerRunDir(p, id), { recursive: true, force: true });
}

export function saveSpec(p: BoxPaths, id: string, o: NsExecOptions, layers: string[], net?: NetPlan): void {
  const spec: SavedSpec = { options: { ...o, caps: o.caps?.toString(16) }, layers };
  if (net) spec.net = net;
  writeJsonAtomic(join(containerDir(p, id), "spec.json"), spec);
}

export function loadSpec(p: BoxPaths, id: string): { options: NsExecOptions; layers: string[]; net?: NetPlan } {
  const s = JSON.parse(readFileSync(join(containerDir(p, id), "spec.json"), "utf8")) as SavedSpec;
  return { options: { ...s.options, caps: s.options.caps !== undefined ? BigInt("0x" + s.options.caps) : undefined }, layers: s.layers, net: s.net };
}

export function readRuntime(p: BoxPaths, id: string): RuntimeState | undefined {
  try {
    return JSON.parse(readFileSync(join(containerRunDir(p, id), "state.json"), "utf8")) as RuntimeState;
  } catch {
    return undefined;
  }
}

export function writeRuntime(p: BoxPaths, id: string, s: RuntimeState): void {
  const dir = containerRunDir(p, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeJsonAtomic(join(dir, "state.json"), s);
}

/**
 * Field 22 of /proc/PID/stat, which with the pid names one process for good;
 * undefined for a zombie: it has exited, whether or not its parent reaped it.
 */
export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (f[0] === "Z" || f[0] === "X") return undefined;
    return f[19];
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, start: string): boolean {
  return pid > 0 && start !== "" && procStart(pid) === start;
}

/**
 * The state as Docker would report it. A watcher that died without
 * recording the exit leaves the exit code unknown: reported as 255 with an
 * Error saying so, never as a made-up success.
 */
export function liveState(p: BoxPaths, id: string, rec: ContainerRecord): LiveState {
  const s = readRuntime(p, id);
  const base: LiveState = { ...rec.State, Restarting: false, RestartCount: 0, MonitorPid: 0, MonitorAlive: false, Settling: false, Paused: false };
  if (!s) {
    if (rec.State.Status === "running") return { ...base, Status: "exited", Running: false, Pid: 0, ExitCode: 255, Error: "box lost track of the container" };
    return base;
  }
  const monitorAlive = isAlive(s.MonitorPid, s.MonitorStart);
  const pidAlive = s.Status === "running" && isAlive(s.Pid, s.PidStart);
  const st: LiveState = {
    ...base,
    Status: s.Status,
    Running: false,
    Pid: 0,
    ExitCode: s.ExitCode,
    Error: s.Error,
    StartedAt: s.StartedAt,
    FinishedAt: s.FinishedAt,
    RestartCount: s.RestartCount,
    MonitorPid: s.MonitorPid,
    MonitorAlive: monitorAlive,
    // Written by `box __cleanup` for a detached container (the foreground run records it itself).
    OOMKilled: base.OOMKilled || existsSync(join(containerRunDir(p, id), "oom-killed")),
  };
  const lost = (what: string): LiveState => ({ ...st, Status: "exited", ExitCode: 255, Error: `box-monitor (pid ${s.MonitorPid}) died ${what}: the container's exit status is unknown` });
  switch (s.Status) {
    case "running":
      if (pidAlive) return { ...st, Running: true, Pid: s.Pid, Paused: paused(rec), Error: monitorAlive ? "" : `box-monitor (pid ${s.MonitorPid}) is gone: output is no longer logged and the exit status will not be recorded` };
      if (monitorAlive) return { ...st, Running: true, Pid: s.Pid, Settling: true };
      return lost("before the container exited");
    case "created":
      return monitorAlive ? st : lost("while starting the container");
    case "restarting":
      return monitorAlive ? { ...st, Restarting: true } : { ...st, Status: "exited" };
    default:
      return st;
  }
}

function paused(rec: ContainerRecord): boolean {
  const cg = findCgroup(rec.CgroupPath);
  return cg !== undefined && isFrozen(cg);
}

/**
 * Run fn holding the container's lock (flock on BOX_ROOT/containers/ID/lock),
 * so that concurrent stop, rm, start and rename never interleave. Throws
 * NoSuchContainer-style errors through `missing` if the container went away
 * while we waited.
 */
export async function withContainerLock<T>(p: BoxPaths, id: string, missing: () => Error, fn: () => Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = openSync(join(containerDir(p, id), "lock"), "a");
  } catch {
    throw missing();
  }
  try {
    flock(fd, LOCK.EX, `lock of container ${id.slice(0, 12)}`);
    if (!existsSync(join(containerDir(p, id), "config.json"))) throw missing();
    return await fn();
  } finally {
    closeSync(fd);
  }
}
