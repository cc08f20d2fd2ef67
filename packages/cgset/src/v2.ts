/**
 * cgroup v2: one directory below the caller's cgroup in the unified
 * hierarchy. Controllers reach a cgroup only through its parents'
 * cgroup.subtree_control, and device access is an eBPF program attached to
 * the directory, since v2 has no devices.allow.
 */
import fs from "node:fs";
import os from "node:os";
import { BPF_ATTACH_TYPE, BPF_F, BPF_PROG_TYPE, bpfProgAttach, bpfProgDetach, bpfProgGetFdById, bpfProgLoad, bpfProgQuery } from "@box/sys";
import { type Backend, type Cgroup, type CreateOptions, type RemoveOptions, type Stats, killLoop, procsBelow, readKeyed, readLimit, readNumber, readOptional, readPids, removeTrees, mkdirChain } from "./backend.js";
import { DEFAULT_DEVICES, applyDeviceRules, deviceProgram, type DeviceState } from "./devices.js";
import { INIT_LEAF, splitPath, underMount } from "./hierarchy.js";
import { type Io, IoError, isCode, realIo, waitFor } from "./io.js";
import { type Controller, type Host, type Limits, LimitError, cfs, controllersFor, sharesToWeight, validateLimits } from "./limits.js";
import type { DeviceRate } from "./units.js";

export interface V2Write {
  file: string;
  value: string;
}

export interface V2Context {
  /** memory.swap.max exists (swap accounting is on). */
  swap: boolean;
  /** io.bfq.weight exists: BFQ takes blkio's 10..1000 as is; io.weight wants 1..10000. */
  bfqWeight: boolean;
  /** A new cgroup: Docker's swap default applies. */
  creating: boolean;
}

const set = (v: number | undefined): v is number => v !== undefined && v !== 0;

/** Exactly what to write, in order, for a set of limits. Pure. */
export function planV2(l: Limits, ctx: V2Context): V2Write[] {
  const out: V2Write[] = [];
  const max = (n: number) => (n === -1 ? "max" : String(n));

  if (set(l.memory)) out.push({ file: "memory.max", value: max(l.memory) });
  // Docker's --memory-swap counts memory plus swap; v2's memory.swap.max counts swap alone.
  if (set(l.memorySwap)) {
    if (!ctx.swap) throw new LimitError("memory-swap: no memory.swap.max: swap accounting is off (boot with swapaccount=1)");
    if (l.memorySwap === -1) out.push({ file: "memory.swap.max", value: "max" });
    else if (set(l.memory) && l.memory > 0) out.push({ file: "memory.swap.max", value: String(l.memorySwap - l.memory) });
    else throw new LimitError("memory-swap: needs a memory limit to take the swap part from");
  } else if (ctx.creating && set(l.memory) && l.memory > 0 && ctx.swap) {
    // Docker: with --memory and no --memory-swap, as much swap again as memory.
    out.push({ file: "memory.swap.max", value: String(l.memory) });
  }
  if (set(l.memoryReservation)) out.push({ file: "memory.low", value: max(l.memoryReservation) });

  if (set(l.cpuShares)) out.push({ file: "cpu.weight", value: String(sharesToWeight(l.cpuShares)) });
  const { quota, period } = cfs(l);
  if (quota !== undefined || period !== undefined) {
    // As runc: a period alone leaves the quota unlimited.
    const q = quota !== undefined && quota > 0 ? String(quota) : "max";
    out.push({ file: "cpu.max", value: period !== undefined ? `${q} ${period}` : q });
  }

  if (l.cpusetCpus !== undefined) out.push({ file: "cpuset.cpus", value: l.cpusetCpus });
  if (l.cpusetMems !== undefined) out.push({ file: "cpuset.mems", value: l.cpusetMems });

  if (l.pidsLimit !== undefined) out.push({ file: "pids.max", value: l.pidsLimit > 0 ? String(l.pidsLimit) : "max" });

  if (set(l.blkioWeight)) {
    out.push(
      ctx.bfqWeight
        ? { file: "io.bfq.weight", value: String(l.blkioWeight) }
        : { file: "io.weight", value: `default ${1 + Math.floor(((l.blkioWeight - 10) * 9999) / 990)}` },
    );
  }
  // io.max takes every limit of one device in one line.
  const devs = new Map<string, string[]>();
  const add = (key: string, list: DeviceRate[] | undefined) => {
    for (const d of list ?? []) devs.set(d.dev, [...(devs.get(d.dev) ?? []), `${key}=${d.rate}`]);
  };
  add("rbps", l.deviceReadBps);
  add("wbps", l.deviceWriteBps);
  add("riops", l.deviceReadIops);
  add("wiops", l.deviceWriteIops);
  for (const [dev, kv] of devs) out.push({ file: "io.max", value: `${dev} ${kv.join(" ")}` });
  return out;
}

/** The controller names v2 writes for limits (devices is a BPF program, not a controller). */
/** The controllers that count what a cgroup uses (cpu.stat's usage is there without one). */
const ACCOUNTING = ["memory", "pids", "io"];

export function v2Controllers(l: Limits): string[] {
  return controllersFor(l).filter((c): c is Exclude<Controller, "devices"> => c !== "devices");
}

/** Docker's default list plus the given rules, as one device state; null when nothing restricts devices. */
export function deviceStateFor(l: Limits, devicesDefault: boolean | undefined): DeviceState | null {
  const rules = [...(devicesDefault ? DEFAULT_DEVICES : []), ...(l.devices ?? [])];
  return rules.length === 0 ? null : applyDeviceRules(rules);
}


export { INIT_LEAF };

export class V2Backend implements Backend {
  readonly version = 2 as const;
  constructor(
    readonly mountpoint: string,
    readonly root: string,
    readonly base: string,
    readonly io: Io = realIo,
    private readonly ncpu: () => number = () => os.availableParallelism(),
    /** Loads and attaches the device program; tests pass a recorder. */
    readonly attachDevices: (dir: string, state: DeviceState) => void = attachDeviceProgram,
  ) {}

  dirOf(path: string): { dir: string; start: string } {
    const { absolute, parts } = splitPath(path);
    const start = absolute ? underMount({ mountpoint: this.mountpoint, root: this.root }, "/") : this.base;
    return { start, dir: `${start}/${parts.join("/")}` };
  }

  /** One base: the caller's cgroup, with what a cgroup below it can use (freezing and device rules are core v2). */
  bases() {
    return [{ controllers: [...(this.host().listed ?? []), "devices", "freezer"], dir: this.base }];
  }

  /** What a cgroup below `parent` (default: the caller's cgroup) may use. */
  host(parent = this.base): Host {
    while (parent.length > this.mountpoint.length && !this.io.exists(parent)) parent = parent.slice(0, parent.lastIndexOf("/"));
    const read = (f: string) => readOptional(this.io, f)?.trim() || undefined;
    const listed = (read(`${parent}/cgroup.controllers`) ?? "").split(/\s+/).filter(Boolean);
    // Every v2 cgroup can carry a device program (CONFIG_CGROUP_BPF); loading one is the real test.
    const controllers = [...listed, "devices"] as Controller[];
    const isRoot = parent === this.mountpoint;
    return {
      ncpu: this.ncpu(),
      cpus: read(`${parent}/cpuset.cpus.effective`) ?? read("/sys/devices/system/cpu/online"),
      mems: read(`${parent}/cpuset.mems.effective`) ?? read("/sys/devices/system/node/online"),
      controllers,
      listed,
      // The root cgroup has no memory.swap.max; below it the file tells.
      swap: isRoot || !controllers.includes("memory") ? undefined : this.io.exists(`${parent}/memory.swap.max`),
      where: parent,
    };
  }

  exists(path: string): boolean {
    return this.io.exists(this.dirOf(path).dir);
  }

  create(path: string, limits: Limits, opts: CreateOptions = {}): Cgroup {
    const { dir, start } = this.dirOf(path);
    validateLimits(limits, this.host(dir.slice(0, dir.lastIndexOf("/"))));
    const created: string[] = [];
    try {
      mkdirChain(this.io, start, dir, created);
      const cg = new V2Cgroup(this, path, dir, start);
      cg.apply(limits, { creating: true, devicesDefault: opts.devicesDefault, log: opts.log });
      return cg;
    } catch (e) {
      for (const c of created.reverse()) {
        try {
          this.io.rmdir(c);
        } catch {
          // Best effort: the error that made us undo is the one to report.
        }
      }
      throw e;
    }
  }

  open(path: string): Cgroup {
    const { dir, start } = this.dirOf(path);
    if (!this.io.exists(dir)) throw new IoError("open cgroup", dir, "ENOENT", "no such file or directory");
    return new V2Cgroup(this, path, dir, start);
  }

  /**
   * Turn controllers on in the subtree_control of every cgroup from `start`
   * down to dir's parent. A non-root cgroup that holds processes may not
   * hand controllers down (EBUSY): as systemd does with init.scope, its
   * processes move into a leaf, `start/init`, and the write is tried again.
   */
  enable(start: string, dir: string, wanted: string[], log?: (m: string) => void): void {
    if (wanted.length === 0) return;
    const chain = [start];
    for (const name of dir.slice(start.length + 1).split("/").slice(0, -1)) chain.push(`${chain[chain.length - 1]}/${name}`);
    for (const d of chain) {
      const have = new Set((readOptional(this.io, `${d}/cgroup.subtree_control`) ?? "").split(/\s+/).filter(Boolean));
      const missing = wanted.filter((c) => !have.has(c));
      if (missing.length === 0) continue;
      const line = missing.map((c) => `+${c}`).join(" ");
      try {
        this.io.write(`${d}/cgroup.subtree_control`, line);
      } catch (e) {
        if (!isCode(e, "EBUSY") || d === this.mountpoint || readPids(this.io, d).length === 0) throw e;
        const moved = this.evacuate(d);
        log?.(
          `moved ${moved} process${moved === 1 ? "" : "es"} from ${d} to ${d}/${INIT_LEAF}: cgroup v2 lets a cgroup hold processes or pass controllers (${missing.join(", ")}) to its children, not both`,
        );
        this.io.write(`${d}/cgroup.subtree_control`, line);
      }
    }
  }

  /** Move every process of d into d/init; returns how many moved. Not undone: the move is what lets d delegate. */
  private evacuate(d: string): number {
    const leaf = `${d}/${INIT_LEAF}`;
    if (!this.io.exists(leaf)) this.io.mkdir(leaf);
    let moved = 0;
    // Processes may fork while we move them: repeat until the list is empty.
    for (let round = 0; round < 100; round++) {
      const pids = readPids(this.io, d);
      if (pids.length === 0) return moved;
      for (const pid of pids) {
        try {
          this.io.write(`${leaf}/cgroup.procs`, String(pid));
          moved++;
        } catch (e) {
          if (!isCode(e, "ESRCH")) throw e;
        }
      }
    }
    throw new Error(`move processes from ${d} to ${leaf}: still not empty after 100 rounds`);
  }
}

class V2Cgroup implements Cgroup {
  readonly version = 2 as const;
  readonly dirs: string[];
  private readonly io: Io;

  constructor(
    private readonly backend: V2Backend,
    readonly path: string,
    private readonly dir: string,
    private readonly start: string,
  ) {
    this.dirs = [dir];
    this.io = backend.io;
  }

  apply(l: Limits, how: { creating: boolean; devicesDefault?: boolean; log?: (m: string) => void }): void {
    const wanted = v2Controllers(l);
    // As runc: a new cgroup gets every accounting controller its parent offers, limits or not,
    // so that stats have memory.current, pids.current and io.stat to read. Those are a
    // nicety: if turning them on fails, only the ones the limits need must succeed.
    // What `start` (where enabling begins) has is what can be handed down to the new cgroup.
    const extra = how.creating ? ACCOUNTING.filter((c) => !wanted.includes(c) && (this.backend.host(this.start).listed ?? []).includes(c)) : [];
    try {
      this.backend.enable(this.start, this.dir, [...wanted, ...extra], how.log);
    } catch (e) {
      if (extra.length === 0) throw e;
      this.backend.enable(this.start, this.dir, wanted, how.log);
    }
    const plan = planV2(l, {
      swap: this.io.exists(`${this.dir}/memory.swap.max`),
      bfqWeight: this.io.exists(`${this.dir}/io.bfq.weight`),
      creating: how.creating,
    });
    for (const w of plan) this.io.write(`${this.dir}/${w.file}`, w.value);
    const devices = deviceStateFor(l, how.devicesDefault);
    if (devices) this.backend.attachDevices(this.dir, devices);
  }

  attach(pid: number): void {
    this.io.write(`${this.dir}/cgroup.procs`, String(pid));
  }

  async attachInBackground(pid: number): Promise<void> {
    if (this.io.writeInBackground) await this.io.writeInBackground(`${this.dir}/cgroup.procs`, String(pid));
    else this.attach(pid);
  }

  update(l: Limits): void {
    validateLimits(l, this.backend.host(this.dir.slice(0, this.dir.lastIndexOf("/"))));
    this.apply(l, { creating: false });
  }

  stats(): Stats {
    const io = this.io;
    const d = this.dir;
    const usage = readNumber(io, `${d}/memory.current`);
    const cpu = readKeyed(io, `${d}/cpu.stat`);
    const current = readNumber(io, `${d}/pids.current`);
    const ioStat = readOptional(io, `${d}/io.stat`);
    let readBytes = 0;
    let writeBytes = 0;
    for (const m of (ioStat ?? "").matchAll(/\b([rw])bytes=(\d+)/g)) {
      if (m[1] === "r") readBytes += Number(m[2]);
      else writeBytes += Number(m[2]);
    }
    const us = (k: string) => (cpu?.has(k) ? (cpu.get(k) ?? 0) * 1000 : null);
    return {
      memory:
        usage === null
          ? null
          : {
              usage,
              // memory.peak: Linux 5.19 and later.
              maxUsage: readNumber(io, `${d}/memory.peak`),
              limit: readLimit(io, `${d}/memory.max`),
              oomKills: readKeyed(io, `${d}/memory.events`)?.get("oom_kill") ?? null,
            },
      cpu: cpu?.has("usage_usec") ? { usageNs: us("usage_usec") ?? 0, userNs: us("user_usec"), systemNs: us("system_usec") } : null,
      pids: current === null ? null : { current, limit: readLimit(io, `${d}/pids.max`) },
      io: ioStat === null ? null : { readBytes, writeBytes },
    };
  }

  private frozen(): boolean | null {
    const v = readKeyed(this.io, `${this.dir}/cgroup.events`)?.get("frozen");
    return v === undefined ? null : v === 1;
  }

  freeze(): void {
    // cgroup.freeze: Linux 5.2 and later.
    this.io.write(`${this.dir}/cgroup.freeze`, "1");
    if (!waitFor(() => this.frozen() !== false, 10_000)) {
      this.io.write(`${this.dir}/cgroup.freeze`, "0");
      throw new Error(`freeze ${this.path}: ${this.dir}/cgroup.events did not say frozen 1 within 10 s`);
    }
  }

  thaw(): void {
    this.io.write(`${this.dir}/cgroup.freeze`, "0");
    waitFor(() => this.frozen() !== true, 10_000);
  }

  kill(): void {
    if (this.io.exists(`${this.dir}/cgroup.kill`)) {
      // cgroup.kill (Linux 5.14) kills the whole subtree, forks in flight included.
      this.io.write(`${this.dir}/cgroup.kill`, "1");
      if (waitFor(() => this.procs().length === 0, 5000)) return;
    }
    const canFreeze = this.io.exists(`${this.dir}/cgroup.freeze`);
    killLoop(() => this.procs(), canFreeze ? () => this.freeze() : null, canFreeze ? () => this.thaw() : null, this.path);
  }

  remove(opts: RemoveOptions = {}): void {
    removeTrees(this.io, this, [{ dir: this.dir, base: this.start }], opts);
  }

  procs(): number[] {
    return procsBelow(this.io, this.dirs);
  }

  oomKilled(): boolean {
    return (readKeyed(this.io, `${this.dir}/memory.events`)?.get("oom_kill") ?? 0) > 0;
  }
}

/**
 * Load the device program and attach it to dir. BPF_F_ALLOW_MULTI lets a
 * nested manager attach its own below; programs attached to dir before are
 * detached after the new one is in, so there is no moment without a filter.
 */
export function attachDeviceProgram(dir: string, state: DeviceState): void {
  const insns = deviceProgram(state);
  const prog = bpfProgLoad({ type: BPF_PROG_TYPE.CGROUP_DEVICE, insns, license: "Apache", name: "cgset_devices" });
  let cgfd: number | undefined;
  try {
    cgfd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const old = bpfProgQuery(cgfd, BPF_ATTACH_TYPE.CGROUP_DEVICE, dir);
    bpfProgAttach(cgfd, prog, BPF_ATTACH_TYPE.CGROUP_DEVICE, BPF_F.ALLOW_MULTI, dir);
    for (const id of old) {
      const fd = bpfProgGetFdById(id);
      try {
        bpfProgDetach(cgfd, fd, BPF_ATTACH_TYPE.CGROUP_DEVICE, dir);
      } finally {
        fs.closeSync(fd);
      }
    }
  } finally {
    // The cgroup keeps the attached program alive; our fds are not needed.
    if (cgfd !== undefined) fs.closeSync(cgfd);
    fs.closeSync(prog);
  }
}

/** Ids of the device programs attached to dir itself. */
export function deviceProgramIds(dir: string): number[] {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return bpfProgQuery(fd, BPF_ATTACH_TYPE.CGROUP_DEVICE, dir);
  } finally {
    fs.closeSync(fd);
  }
}
