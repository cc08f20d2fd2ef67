/**
 * cgroup v1: one directory per hierarchy (memory, cpu, cpuacct, cpuset,
 * devices, freezer, blkio, pids), each below the caller's own cgroup in that
 * hierarchy. The caller is never moved: a session confined to
 * memory:/process_api/<hash> stays there, and its cgroups go below it.
 */
import os from "node:os";
import { type Backend, type Cgroup, type CreateOptions, type RemoveOptions, type Stats, killLoop, procsBelow, readKeyed, readLimit, readNumber, readOptional, removeTrees, mkdirChain } from "./backend.js";
import { DEFAULT_DEVICES } from "./devices.js";
import { type V1Hierarchy, splitPath, underMount } from "./hierarchy.js";
import { type Io, IoError, isCode, realIo, waitFor } from "./io.js";
import { type Controller, type Host, type Limits, LimitError, cfs, validateLimits } from "./limits.js";
import { formatDeviceRule, type DeviceRate } from "./units.js";

export interface V1Write {
  /** The v1 controller whose hierarchy holds the file. */
  controller: string;
  file: string;
  value: string;
}

export interface V1Context {
  /** memory.memsw.limit_in_bytes exists (swap accounting is on). */
  memsw: boolean;
  /** blkio.weight, or blkio.bfq.weight where only BFQ offers weights; null: neither. */
  weightFile: string | null;
  /** memory.limit_in_bytes now; a new cgroup has none (unlimited). */
  currentMemory?: number;
  /** A new cgroup: Docker's swap default applies. */
  creating: boolean;
  devicesDefault?: boolean;
}

const set = (v: number | undefined): v is number => v !== undefined && v !== 0;

function rates(out: V1Write[], file: string, list: DeviceRate[] | undefined): void {
  for (const d of list ?? []) out.push({ controller: "blkio", file, value: `${d.dev} ${d.rate}` });
}

/** Exactly what to write, in order, for a set of limits. Pure. */
export function planV1(l: Limits, ctx: V1Context): V1Write[] {
  const out: V1Write[] = [];
  const mem = (file: string, value: number) => out.push({ controller: "memory", file, value: String(value) });

  // Docker: with --memory and no --memory-swap, swap may match memory (memsw = 2 x memory).
  let swap = l.memorySwap;
  if (!set(swap) && ctx.creating && set(l.memory) && l.memory > 0 && ctx.memsw) swap = l.memory * 2;
  // runc: lifting the memory limit lifts memsw too, or the kernel refuses a limit above memsw.
  if (!set(swap) && l.memory === -1 && ctx.memsw) swap = -1;
  if (set(swap) && !ctx.memsw) throw new LimitError("memory-swap: no memory.memsw.limit_in_bytes: swap accounting is off (boot with swapaccount=1)");
  if (set(l.memory) && set(swap)) {
    // memsw may never be below the memory limit, before or after each write:
    // raise memsw first when the new memsw is above the current limit (runc's order).
    const cur = ctx.currentMemory ?? Infinity;
    if (swap === -1 || cur < swap) {
      mem("memory.memsw.limit_in_bytes", swap);
      mem("memory.limit_in_bytes", l.memory);
    } else {
      mem("memory.limit_in_bytes", l.memory);
      mem("memory.memsw.limit_in_bytes", swap);
    }
  } else if (set(l.memory)) {
    mem("memory.limit_in_bytes", l.memory);
  } else if (set(swap)) {
    mem("memory.memsw.limit_in_bytes", swap);
  }
  if (set(l.memoryReservation)) mem("memory.soft_limit_in_bytes", l.memoryReservation);

  if (set(l.cpuShares)) out.push({ controller: "cpu", file: "cpu.shares", value: String(l.cpuShares) });
  const { quota, period } = cfs(l);
  if (period !== undefined) out.push({ controller: "cpu", file: "cpu.cfs_period_us", value: String(period) });
  if (quota !== undefined) out.push({ controller: "cpu", file: "cpu.cfs_quota_us", value: String(quota) });

  if (l.cpusetCpus !== undefined) out.push({ controller: "cpuset", file: "cpuset.cpus", value: l.cpusetCpus });
  if (l.cpusetMems !== undefined) out.push({ controller: "cpuset", file: "cpuset.mems", value: l.cpusetMems });

  if (l.pidsLimit !== undefined) out.push({ controller: "pids", file: "pids.max", value: l.pidsLimit > 0 ? String(l.pidsLimit) : "max" });

  if (set(l.blkioWeight)) {
    if (!ctx.weightFile) throw new LimitError("blkio-weight: neither blkio.weight nor blkio.bfq.weight exists: no I/O scheduler here supports weights");
    out.push({ controller: "blkio", file: ctx.weightFile, value: String(l.blkioWeight) });
  }
  rates(out, "blkio.throttle.read_bps_device", l.deviceReadBps);
  rates(out, "blkio.throttle.write_bps_device", l.deviceWriteBps);
  rates(out, "blkio.throttle.read_iops_device", l.deviceReadIops);
  rates(out, "blkio.throttle.write_iops_device", l.deviceWriteIops);

  const rules = [...(ctx.devicesDefault ? DEFAULT_DEVICES : []), ...(l.devices ?? [])];
  for (const r of rules) out.push({ controller: "devices", file: r.allow ? "devices.allow" : "devices.deny", value: formatDeviceRule(r) });
  return out;
}

const GENERIC: Record<Controller, string> = { memory: "memory", cpu: "cpu", cpuset: "cpuset", pids: "pids", io: "blkio", devices: "devices" };

interface Target {
  h: V1Hierarchy;
  dir: string;
  /** Where this cgroup's path starts: the caller's cgroup, or the mount for a /path. */
  start: string;
}

export class V1Backend implements Backend {
  readonly version = 1 as const;
  constructor(
    readonly hierarchies: V1Hierarchy[],
    readonly io: Io = realIo,
    private readonly ncpu: () => number = () => os.availableParallelism(),
  ) {}

  private hierarchy(controller: string): V1Hierarchy | undefined {
    return this.hierarchies.find((h) => h.controllers.includes(controller));
  }

  targets(path: string): Target[] {
    const { absolute, parts } = splitPath(path);
    return this.hierarchies.map((h) => {
      const start = absolute ? underMount(h, "/") : h.base;
      return { h, start, dir: `${start}/${parts.join("/")}` };
    });
  }

  bases() {
    return this.hierarchies.map((h) => ({ controllers: h.controllers, dir: h.base }));
  }

  host(parentOf?: Target[]): Host {
    const controllers = (Object.keys(GENERIC) as Controller[]).filter((c) => this.hierarchy(GENERIC[c]) !== undefined);
    // The nearest existing ancestor of the new cgroup: what its cpuset may name.
    const dirOf = (c: string) => {
      const t = parentOf?.find((x) => x.h.controllers.includes(c));
      if (!t) return this.hierarchy(c)?.base;
      let d = t.dir.slice(0, t.dir.lastIndexOf("/"));
      while (d.length > t.h.mountpoint.length && !this.io.exists(d)) d = d.slice(0, d.lastIndexOf("/"));
      return d;
    };
    const cpuset = dirOf("cpuset");
    const memory = dirOf("memory");
    const read = (f: string) => readOptional(this.io, f)?.trim() || undefined;
    return {
      ncpu: this.ncpu(),
      cpus: cpuset ? (read(`${cpuset}/cpuset.effective_cpus`) ?? read(`${cpuset}/cpuset.cpus`)) : undefined,
      mems: cpuset ? (read(`${cpuset}/cpuset.effective_mems`) ?? read(`${cpuset}/cpuset.mems`)) : undefined,
      controllers,
      listed: this.hierarchies.flatMap((h) => h.controllers),
      swap: memory ? this.io.exists(`${memory}/memory.memsw.limit_in_bytes`) : undefined,
      where: "cgroup v1",
    };
  }

  exists(path: string): boolean {
    return this.targets(path).some((t) => this.io.exists(t.dir));
  }

  create(path: string, limits: Limits, opts: CreateOptions = {}): Cgroup {
    const targets = this.targets(path);
    validateLimits(limits, this.host(targets));
    const wanted = [...(limits.devices?.length || opts.devicesDefault ? ["devices"] : [])];
    for (const c of wanted) if (!this.hierarchy(c)) throw new LimitError(`the ${c} controller is not mounted (cgroup v1)`);

    const created: string[] = [];
    try {
      for (const t of targets) this.mkdirs(t, created);
      const cg = new V1Cgroup(this, path, targets);
      cg.apply(limits, { creating: true, devicesDefault: opts.devicesDefault });
      return cg;
    } catch (e) {
      for (const d of created.reverse()) {
        try {
          this.io.rmdir(d);
        } catch {
          // Best effort: the error that made us undo is the one to report.
        }
      }
      throw e;
    }
  }

  /** mkdir -p from t.start; the last component must be new. New cpuset dirs get their parent's cpus and mems. */
  private mkdirs(t: Target, created: string[]): void {
    mkdirChain(this.io, t.start, t.dir, created, (parent, d) => {
      if (!t.h.controllers.includes("cpuset")) return;
      // A v1 cpuset starts with no CPUs and no memory nodes, and a task
      // cannot join it until it has both: copy the parent's. A parent that
      // another cgset has just made may not have its own yet (it writes them
      // right after its mkdir): fill it from above first, with the same
      // values that cgset would write, rather than copy its empty ones.
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        const v = this.filled(t.start, parent, f);
        if (v !== "") this.io.write(`${d}/${f}`, v);
      }
    });
  }

  /** `file` of cpuset dir, filled from the nearest ancestor below `start` that has one if it is empty. */
  private filled(start: string, dir: string, file: string): string {
    const v = this.io.read(`${dir}/${file}`).trim();
    if (v !== "" || dir.length <= start.length || !dir.startsWith(start)) return v;
    const up = this.filled(start, dir.slice(0, dir.lastIndexOf("/")), file);
    if (up !== "") this.io.write(`${dir}/${file}`, up);
    return up;
  }

  open(path: string): Cgroup {
    const all = this.targets(path);
    const targets = all.filter((t) => this.io.exists(t.dir));
    if (targets.length === 0) {
      throw new IoError("open cgroup", all[0]?.dir ?? path, "ENOENT", "no such file or directory");
    }
    return new V1Cgroup(this, path, targets);
  }
}

class V1Cgroup implements Cgroup {
  readonly version = 1 as const;
  readonly dirs: string[];
  private readonly io: Io;

  constructor(
    private readonly backend: V1Backend,
    readonly path: string,
    private readonly targets: Target[],
  ) {
    this.dirs = targets.map((t) => t.dir);
    this.io = backend.io;
  }

  private dir(controller: string): string | undefined {
    return this.targets.find((t) => t.h.controllers.includes(controller))?.dir;
  }

  apply(l: Limits, how: { creating: boolean; devicesDefault?: boolean }): void {
    const mem = this.dir("memory");
    const blkio = this.dir("blkio");
    const weightFile = !blkio
      ? null
      : ["blkio.weight", "blkio.bfq.weight"].find((f) => this.io.exists(`${blkio}/${f}`)) ?? null;
    const plan = planV1(l, {
      memsw: mem !== undefined && this.io.exists(`${mem}/memory.memsw.limit_in_bytes`),
      weightFile,
      currentMemory: how.creating || !mem ? undefined : (readLimit(this.io, `${mem}/memory.limit_in_bytes`) ?? Infinity),
      creating: how.creating,
      devicesDefault: how.devicesDefault,
    });
    for (const w of plan) {
      const dir = this.dir(w.controller);
      if (!dir) throw new LimitError(`the ${w.controller} controller is not mounted (cgroup v1)`);
      this.io.write(`${dir}/${w.file}`, w.value);
    }
  }

  /** Where a process is in each hierarchy, to put it back if a later one refuses it. */
  private whereIs(pid: number): Map<string, string> {
    const before = new Map<string, string>();
    const self = readOptional(this.io, `/proc/${pid}/cgroup`) ?? "";
    for (const line of self.split("\n")) {
      const m = /^\d+:([^:]+):(.*)$/.exec(line);
      if (m) before.set([...(m[1] ?? "").split(",")].sort().join(","), m[2] ?? "/");
    }
    return before;
  }

  private putBack(pid: number, before: Map<string, string>, done: Target[]): void {
    for (const t of done) {
      const was = before.get([...t.h.controllers].sort().join(","));
      if (was === undefined) continue;
      try {
        this.io.write(`${underMount(t.h, was)}/cgroup.procs`, String(pid));
      } catch {
        // The process may be gone; the attach error is the one to report.
      }
    }
  }

  attach(pid: number): void {
    const before = this.whereIs(pid);
    const done: Target[] = [];
    try {
      for (const t of this.targets) {
        this.io.write(`${t.dir}/cgroup.procs`, String(pid));
        done.push(t);
      }
    } catch (e) {
      this.putBack(pid, before, done);
      throw e;
    }
  }

  async attachInBackground(pid: number): Promise<void> {
    const io = this.io;
    if (!io.writeInBackground) return this.attach(pid);
    const before = this.whereIs(pid);
    const results = await Promise.allSettled(this.targets.map((t) => io.writeInBackground!(`${t.dir}/cgroup.procs`, String(pid))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      this.putBack(pid, before, this.targets.filter((_, i) => results[i]!.status === "fulfilled"));
      throw failed.reason;
    }
  }

  update(l: Limits): void {
    validateLimits(l, this.backend.host(this.targets));
    this.apply(l, { creating: false });
  }

  stats(): Stats {
    const io = this.io;
    const mem = this.dir("memory");
    const acct = this.dir("cpuacct");
    const pids = this.dir("pids");
    const blkio = this.dir("blkio");
    const usage = mem ? readNumber(io, `${mem}/memory.usage_in_bytes`) : null;
    const cpu = acct ? readNumber(io, `${acct}/cpuacct.usage`) : null;
    let user = acct ? readNumber(io, `${acct}/cpuacct.usage_user`) : null;
    let sys = acct ? readNumber(io, `${acct}/cpuacct.usage_sys`) : null;
    if (acct && (user === null || sys === null)) {
      // Older kernels: cpuacct.stat in USER_HZ (100 per second on Linux's ABI).
      const st = readKeyed(io, `${acct}/cpuacct.stat`);
      user = st?.has("user") ? (st.get("user") ?? 0) * 1e7 : null;
      sys = st?.has("system") ? (st.get("system") ?? 0) * 1e7 : null;
    }
    const current = pids ? readNumber(io, `${pids}/pids.current`) : null;
    return {
      memory:
        usage === null || !mem
          ? null
          : {
              usage,
              maxUsage: readNumber(io, `${mem}/memory.max_usage_in_bytes`),
              limit: readLimit(io, `${mem}/memory.limit_in_bytes`),
              oomKills: readKeyed(io, `${mem}/memory.oom_control`)?.get("oom_kill") ?? null,
            },
      cpu: cpu === null ? null : { usageNs: cpu, userNs: user, systemNs: sys },
      pids: current === null || !pids ? null : { current, limit: readLimit(io, `${pids}/pids.max`) },
      io: blkio ? blkioBytes(io, blkio) : null,
    };
  }

  freeze(): void {
    const dir = this.dir("freezer");
    if (!dir) throw new LimitError("freeze: the freezer controller is not mounted (cgroup v1)");
    const file = `${dir}/freezer.state`;
    // FREEZING means some task has not stopped yet; writing FROZEN again
    // retries them (what runc does), until the state reads FROZEN.
    const ok = waitFor(() => {
      this.io.write(file, "FROZEN");
      return this.io.read(file).trim() === "FROZEN";
    }, 10_000);
    if (!ok) {
      this.io.write(file, "THAWED");
      throw new Error(`freeze ${this.path}: ${file} still FREEZING after 10 s`);
    }
  }

  thaw(): void {
    const dir = this.dir("freezer");
    if (!dir) throw new LimitError("thaw: the freezer controller is not mounted (cgroup v1)");
    this.io.write(`${dir}/freezer.state`, "THAWED");
    waitFor(() => this.io.read(`${dir}/freezer.state`).trim() === "THAWED", 10_000);
  }

  kill(): void {
    const frozen = this.dir("freezer") !== undefined;
    killLoop(() => this.procs(), frozen ? () => this.freeze() : null, frozen ? () => this.thaw() : null, this.path);
  }

  remove(opts: RemoveOptions = {}): void {
    removeTrees(this.io, this, this.targets.map((t) => ({ dir: t.dir, base: t.start })), opts);
  }

  procs(): number[] {
    return procsBelow(this.io, this.dirs);
  }

  oomKilled(): boolean {
    const mem = this.dir("memory");
    return mem !== undefined && (readKeyed(this.io, `${mem}/memory.oom_control`)?.get("oom_kill") ?? 0) > 0;
  }
}

/** Read and Write totals of blkio.throttle.io_service_bytes_recursive (`8:0 Read 4096` lines). */
function blkioBytes(io: Io, dir: string): Stats["io"] {
  const text =
    readOptional(io, `${dir}/blkio.throttle.io_service_bytes_recursive`) ?? readOptional(io, `${dir}/blkio.io_service_bytes_recursive`);
  if (text === null) return null;
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split("\n")) {
    const [, op, n] = line.trim().split(/\s+/);
    if (op === "Read") readBytes += Number(n);
    if (op === "Write") writeBytes += Number(n);
  }
  return { readBytes, writeBytes };
}
