/**
 * The interface both hierarchies implement (as crun keeps cgroup-cgroupfs.c
 * behind one small backend interface), and what v1 and v2 share: walking a
 * cgroup's subtree, reading its processes, killing and removing it.
 */
import { type Io, IoError, isCode, sleepMs, waitFor } from "./io.js";
import type { Host, Limits } from "./limits.js";

export interface Stats {
  /** Bytes. maxUsage: the high-water mark (null where the kernel keeps none); limit null: unlimited. */
  memory: { usage: number; maxUsage: number | null; limit: number | null; oomKills: number | null } | null;
  /** Nanoseconds of CPU time. */
  cpu: { usageNs: number; userNs: number | null; systemNs: number | null } | null;
  /** limit null: unlimited. */
  pids: { current: number; limit: number | null } | null;
  /** Bytes read and written through the block layer. */
  io: { readBytes: number; writeBytes: number } | null;
}

export interface RemoveOptions {
  /** Kill every process in the cgroup (and below) first; without it a busy cgroup is refused. */
  kill?: boolean;
  /** Remove child cgroups too; without it a cgroup with children is refused. */
  recursive?: boolean;
  /** Then remove each parent that is left empty, up to the caller's own cgroup, as rmdir -p. */
  parents?: boolean;
}

export interface Cgroup {
  /** The path as given: `box/c1`. */
  readonly path: string;
  readonly version: 1 | 2;
  /** The cgroup's directory in each hierarchy (one on v2). */
  readonly dirs: string[];
  /** Move a process (all its threads) into the cgroup. */
  attach(pid: number): void;
  /**
   * attach, with the writes on the thread pool, all at once (they share one
   * RCU grace period): for a caller with other work to do meanwhile, such as
   * ns-exec preparing the root while ns-init waits.
   */
  attachInBackground(pid: number): Promise<void>;
  update(limits: Limits): void;
  stats(): Stats;
  /** Stop every process in the cgroup and below; returns once they are all stopped. */
  freeze(): void;
  thaw(): void;
  /** SIGKILL every process in the cgroup and below, those forked meanwhile included; returns once none is left. */
  kill(): void;
  remove(opts?: RemoveOptions): void;
  /** Processes in the cgroup and its children, sorted. */
  procs(): number[];
  /** Whether the kernel's OOM killer has killed a process of this cgroup. */
  oomKilled(): boolean;
}

export interface CreateOptions {
  /** Start from Docker's default device allow-list (deny everything else). */
  devicesDefault?: boolean;
  /** Told about changes to the host beyond the cgroup itself (v2: moving processes to a leaf). */
  log?: (message: string) => void;
}

export interface Backend {
  readonly version: 1 | 2;
  /** What the host offers below the caller's cgroup, for validateLimits. */
  host(): Host;
  create(path: string, limits: Limits, opts?: CreateOptions): Cgroup;
  open(path: string): Cgroup;
  exists(path: string): boolean;
  /** The directory each new cgroup goes below, per hierarchy: `memory /sys/fs/cgroup/memory/x`. */
  bases(): { controllers: string[]; dir: string }[];
}

/** Values at or above this are "no limit" (v1 writes PAGE_COUNTER_MAX pages as 9223372036854771712). */
const UNLIMITED = 2 ** 62;

export function readOptional(io: Io, file: string): string | null {
  try {
    return io.read(file);
  } catch (e) {
    if (isCode(e, "ENOENT", "ENODEV", "EOPNOTSUPP")) return null;
    throw e;
  }
}

/** A file holding one number; null when missing. */
export function readNumber(io: Io, file: string): number | null {
  const s = readOptional(io, file);
  if (s === null) return null;
  const n = Number(s.trim());
  return Number.isFinite(n) ? n : null;
}

/** A limit file: null for "max", -1, or v1's huge "unlimited". */
export function readLimit(io: Io, file: string): number | null {
  const s = readOptional(io, file)?.trim();
  if (s === undefined || s === "max" || s === "-1") return null;
  const n = Number(s);
  return Number.isFinite(n) && n < UNLIMITED ? n : null;
}

/** `key value` lines (cpu.stat, memory.events, cpuacct.stat) as a map. */
export function readKeyed(io: Io, file: string): Map<string, number> | null {
  const s = readOptional(io, file);
  if (s === null) return null;
  const out = new Map<string, number>();
  for (const line of s.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

export function readPids(io: Io, dir: string): number[] {
  const s = readOptional(io, `${dir}/cgroup.procs`);
  if (s === null) return [];
  return s.split("\n").filter(Boolean).map(Number);
}

/** dir and every cgroup below it, children before their parents (the order rmdir needs). */
export function subtree(io: Io, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let kids: string[] = [];
    try {
      kids = io.subdirs(d);
    } catch (e) {
      if (!isCode(e, "ENOENT")) throw e;
    }
    for (const k of kids) walk(`${d}/${k}`);
    out.push(d);
  };
  walk(dir);
  return out;
}

export function procsBelow(io: Io, dirs: string[]): number[] {
  const all = new Set<number>();
  for (const d of dirs) for (const sub of subtree(io, d)) for (const p of readPids(io, sub)) all.add(p);
  return [...all].sort((a, b) => a - b);
}

export function sigkill(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch (e) {
      if (!isCode(e, "ESRCH")) throw new Error(`kill pid=${pid} sig=SIGKILL: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
}

/**
 * Kill by signal, for hierarchies without cgroup.kill: stop the cgroup so no
 * process can fork behind our back, SIGKILL what is listed, let it run to
 * its death, and repeat until nothing is left. Without a freezer it is the
 * same loop, which a fast enough fork bomb can outrun for a while.
 */
export function killLoop(list: () => number[], freeze: (() => void) | null, thaw: (() => void) | null, what: string): void {
  for (let round = 0; round < 200; round++) {
    if (list().length === 0) return;
    if (freeze) {
      try {
        freeze();
      } catch {
        // A cgroup that will not freeze still gets the signals.
      }
    }
    try {
      sigkill(list());
    } finally {
      thaw?.();
    }
    if (waitFor(() => list().length === 0, round < 5 ? 200 : 1000)) return;
  }
  throw new Error(`kill ${what}: processes left after 200 rounds: ${list().join(" ")}`);
}

/** rmdir, waiting out EBUSY while killed processes finish exiting; a missing dir is fine. */
export function rmdirPatiently(io: Io, dir: string, ms = 3000): void {
  const end = Date.now() + ms;
  for (;;) {
    try {
      io.rmdir(dir);
      return;
    } catch (e) {
      if (isCode(e, "ENOENT")) return;
      if (!isCode(e, "EBUSY") || Date.now() >= end) throw e;
      sleepMs(10);
    }
  }
}

/** rmdir -p: remove each empty ancestor of dir below `stop`, quietly stopping at the first that is in use. */

/**
 * mkdir -p of dir below start, where only the last component must be new: a
 * parent another cgset made meanwhile is fine. `made(parent, dir)` runs for
 * each directory this call created (in order), which it appends to `created`
 * for the caller's undo. A parent that another process's pruneParents removed
 * between two steps (ENOENT) restarts the walk, a few times at most.
 */
export function mkdirChain(io: Io, start: string, dir: string, created: string[], made: (parent: string, dir: string) => void = () => {}): void {
  const rel = dir.slice(start.length + 1).split("/");
  const before = created.length;
  for (let attempt = 0; ; attempt++) {
    try {
      let d = start;
      rel.forEach((name, i) => {
        const parent = d;
        d = `${d}/${name}`;
        const last = i === rel.length - 1;
        if (!last && io.exists(d)) return;
        try {
          io.mkdir(d);
        } catch (e) {
          if (!last && isCode(e, "EEXIST")) return;
          throw e;
        }
        created.push(d);
        made(parent, d);
      });
      return;
    } catch (e) {
      if (!isCode(e, "ENOENT") || attempt >= 5) throw e;
      // What the other process removed is no longer ours to undo.
      const kept = created.splice(before).filter((d) => io.exists(d));
      created.push(...kept);
    }
  }
}

export function pruneParents(io: Io, dir: string, stop: string): void {
  for (let d = dir.slice(0, dir.lastIndexOf("/")); d.length > stop.length && d.startsWith(`${stop}/`); d = d.slice(0, d.lastIndexOf("/"))) {
    try {
      io.rmdir(d);
    } catch (e) {
      if (isCode(e, "EBUSY", "ENOTEMPTY", "ENOENT")) return;
      throw e;
    }
  }
}

/** The shared part of remove(): refuse or kill, then rmdir each subtree bottom up. */
export function removeTrees(
  io: Io,
  cg: Pick<Cgroup, "path" | "procs" | "kill">,
  roots: { dir: string; base: string }[],
  opts: RemoveOptions,
): void {
  if (!opts.recursive) {
    for (const { dir } of roots) {
      let kids: string[] = [];
      try {
        kids = io.subdirs(dir);
      } catch (e) {
        if (!isCode(e, "ENOENT")) throw e;
      }
      if (kids.length > 0) throw new Error(`${cg.path}: has child cgroups (${kids.join(", ")}) in ${dir}`);
    }
  }
  const pids = cg.procs();
  if (pids.length > 0) {
    if (!opts.kill) {
      const shown = pids.length > 10 ? `${pids.slice(0, 10).join(" ")} and ${pids.length - 10} more` : pids.join(" ");
      throw new Error(`${cg.path}: not empty: pids ${shown}`);
    }
    cg.kill();
  }
  const errors: IoError[] = [];
  for (const { dir, base } of roots) {
    try {
      for (const d of subtree(io, dir)) rmdirPatiently(io, d);
      if (opts.parents) pruneParents(io, dir, base);
    } catch (e) {
      if (e instanceof IoError) errors.push(e);
      else throw e;
    }
  }
  if (errors[0]) throw errors[0];
}
