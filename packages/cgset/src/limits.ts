/**
 * The limits a cgroup can carry, in Docker's terms and units, and the checks
 * made before anything is created (runc's order: convert, validate, act).
 * Messages are Docker's where Docker has one, so box can print them as the
 * daemon would.
 */
import { formatCpuList, parseCpuList, type DeviceRate, type DeviceRule } from "./units.js";

export interface Limits {
  /** Bytes; -1 lifts the limit (update). Docker: -m, --memory. */
  memory?: number;
  /** Memory plus swap, in bytes; -1 for unlimited swap. Docker: --memory-swap. */
  memorySwap?: number;
  /** Soft limit in bytes. Docker: --memory-reservation. */
  memoryReservation?: number;
  /** CPUs, e.g. 0.5: a CFS quota of cpus x 100 ms per 100 ms. Docker: --cpus. */
  cpus?: number;
  /** Relative weight, 2..262144 (1024 is the default). Docker: -c, --cpu-shares. */
  cpuShares?: number;
  /** CFS period in µs, 1000..1000000. Docker: --cpu-period. */
  cpuPeriod?: number;
  /** CFS quota in µs per period, >= 1000; -1 lifts it. Docker: --cpu-quota. */
  cpuQuota?: number;
  /** CPUs a process may run on: `0-1,3`. Docker: --cpuset-cpus. */
  cpusetCpus?: string;
  /** Memory nodes: `0`. Docker: --cpuset-mems. */
  cpusetMems?: string;
  /** Most tasks at once; 0 or less for no limit. Docker: --pids-limit. */
  pidsLimit?: number;
  /** 10..1000. Docker: --blkio-weight. */
  blkioWeight?: number;
  deviceReadBps?: DeviceRate[];
  deviceWriteBps?: DeviceRate[];
  deviceReadIops?: DeviceRate[];
  deviceWriteIops?: DeviceRate[];
  /** Applied in order, as writes to devices.allow/deny would be. */
  devices?: DeviceRule[];
}

/** Generic controller names; the v1 backend maps io to blkio. */
export type Controller = "memory" | "cpu" | "cpuset" | "pids" | "io" | "devices";

/** What the host offers, for the checks that depend on it. Every field is optional. */
export interface Host {
  /** CPUs this process may use (Docker's NumCPU). */
  ncpu?: number;
  /** CPUs a cpuset below the parent may name: `0-1`. */
  cpus?: string;
  /** Memory nodes a cpuset below the parent may name: `0`. */
  mems?: string;
  /** Controllers that a new cgroup can use. */
  controllers?: Controller[];
  /** What to name as present when one is missing (default: controllers). */
  listed?: string[];
  /** A memory+swap limit can be set (v1 memory.memsw.*, v2 memory.swap.max). */
  swap?: boolean;
  /** A blkio/io weight file exists. */
  ioWeight?: boolean;
  /** Where the checks above came from, for messages: "cgroup v1", "/sys/fs/cgroup/unified". */
  where?: string;
}

/** A limit the host or Docker's rules refuse; box exits 125 with its message. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LimitError";
  }
}

/** Docker's smallest memory limit: below it a container cannot even start its runtime. */
export const MIN_MEMORY = 6 * 1024 * 1024;

const set = (v: number | undefined): v is number => v !== undefined && v !== 0;

/** The controllers the given limits write to. */
export function controllersFor(l: Limits): Controller[] {
  const out = new Set<Controller>();
  if (set(l.memory) || set(l.memorySwap) || set(l.memoryReservation)) out.add("memory");
  if (set(l.cpus) || set(l.cpuShares) || set(l.cpuPeriod) || set(l.cpuQuota)) out.add("cpu");
  if (l.cpusetCpus !== undefined || l.cpusetMems !== undefined) out.add("cpuset");
  if (l.pidsLimit !== undefined) out.add("pids");
  const rates = [l.deviceReadBps, l.deviceWriteBps, l.deviceReadIops, l.deviceWriteIops];
  if (set(l.blkioWeight) || rates.some((r) => r !== undefined && r.length > 0)) out.add("io");
  if (l.devices !== undefined && l.devices.length > 0) out.add("devices");
  return [...out];
}

function whole(name: string, v: number | undefined): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new LimitError(`${name}: ${v} is not a whole number`);
}

/**
 * Reject what Docker, the kernel or the host would refuse, before any cgroup
 * is made. Pure: the host's side comes in as `host`, and checks that need a
 * field of it that is missing are skipped.
 */
export function validateLimits(l: Limits, host: Host = {}): void {
  for (const k of ["memory", "memorySwap", "memoryReservation", "cpuShares", "cpuPeriod", "cpuQuota", "pidsLimit", "blkioWeight"] as const) {
    whole(k, l[k]);
  }
  if (l.cpus !== undefined && !Number.isFinite(l.cpus)) throw new LimitError(`cpus: ${l.cpus} is not a number`);

  // Memory, in the order of Docker's verifyPlatformContainerResources.
  if (set(l.memory) && l.memory !== -1 && l.memory < MIN_MEMORY) throw new LimitError("Minimum memory limit allowed is 6MB");
  if (set(l.memory) && l.memory < -1) throw new LimitError(`Invalid memory limit ${l.memory}`);
  if (set(l.memorySwap) && l.memorySwap < -1) throw new LimitError(`Invalid memory-swap limit ${l.memorySwap}`);
  if (set(l.memorySwap) && !set(l.memory)) {
    throw new LimitError("You should always set the Memory limit when using Memoryswap limit, see usage");
  }
  if (set(l.memory) && set(l.memorySwap) && l.memorySwap !== -1 && l.memory !== -1 && l.memorySwap < l.memory) {
    throw new LimitError("Minimum memoryswap limit should be larger than memory limit, see usage");
  }
  if (set(l.memorySwap) && host.swap === false) {
    throw new LimitError(
      `memory-swap: the kernel does not account swap here (${host.where ?? "host"} has no memory.memsw.limit_in_bytes or memory.swap.max; boot with swapaccount=1)`,
    );
  }
  if (set(l.memoryReservation) && l.memoryReservation !== -1 && l.memoryReservation < MIN_MEMORY) {
    throw new LimitError("Minimum memory reservation allowed is 6MB");
  }
  if (set(l.memory) && l.memory > 0 && set(l.memoryReservation) && l.memoryReservation > 0 && l.memory < l.memoryReservation) {
    throw new LimitError("Minimum memory limit can not be less than memory reservation limit, see usage");
  }

  // CPU.
  if (set(l.cpus) && set(l.cpuPeriod)) throw new LimitError("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (set(l.cpus) && set(l.cpuQuota)) throw new LimitError("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (l.cpus !== undefined && l.cpus !== 0) {
    const nano = Math.round(l.cpus * 1e9);
    const max = host.ncpu ?? Infinity;
    if (nano < 1e7 || nano > max * 1e9) {
      if (host.ncpu === undefined) throw new LimitError(`Range of CPUs is from 0.01, got ${l.cpus}`);
      throw new LimitError(
        `Range of CPUs is from 0.01 to ${host.ncpu.toFixed(2)}, as there are only ${host.ncpu} CPUs available`,
      );
    }
  }
  if (set(l.cpuPeriod) && (l.cpuPeriod < 1000 || l.cpuPeriod > 1000000)) {
    throw new LimitError("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  }
  if (set(l.cpuQuota) && l.cpuQuota !== -1 && l.cpuQuota < 1000) throw new LimitError("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if (set(l.cpuShares) && (l.cpuShares < 2 || l.cpuShares > 262144)) {
    throw new LimitError(`cpu-shares: ${l.cpuShares} is out of range: the kernel takes 2 to 262144`);
  }

  // cpuset, against what the parent may hand out.
  const cpuset = (what: "CPUs" | "memory nodes", flag: string, v: string | undefined, avail: string | undefined) => {
    if (v === undefined) return;
    let want: number[];
    try {
      want = parseCpuList(v);
    } catch {
      throw new LimitError(`Invalid value ${v} for ${flag}`);
    }
    if (want.length === 0) throw new LimitError(`Invalid value ${v} for ${flag}`);
    if (avail === undefined) return;
    const have = new Set(parseCpuList(avail));
    if (want.some((c) => !have.has(c))) {
      throw new LimitError(`Requested ${what} are not available - requested ${v}, available: ${formatCpuList([...have])}`);
    }
  };
  cpuset("CPUs", "cpuset cpus", l.cpusetCpus, host.cpus);
  cpuset("memory nodes", "cpuset mems", l.cpusetMems, host.mems);

  // Block I/O.
  if (set(l.blkioWeight) && (l.blkioWeight < 10 || l.blkioWeight > 1000)) throw new LimitError("Range of blkio weight is from 10 to 1000");
  if (set(l.blkioWeight) && host.ioWeight === false) {
    throw new LimitError(
      `blkio-weight: ${host.where ?? "the host"} has no weight file (blkio.weight, blkio.bfq.weight, io.weight or io.bfq.weight): the kernel's I/O schedulers here do not support weights`,
    );
  }
  for (const [name, list] of [
    ["device-read-bps", l.deviceReadBps],
    ["device-write-bps", l.deviceWriteBps],
    ["device-read-iops", l.deviceReadIops],
    ["device-write-iops", l.deviceWriteIops],
  ] as const) {
    for (const d of list ?? []) {
      if (!/^\d+:\d+$/.test(d.dev)) throw new LimitError(`${name}: '${d.dev}' is not MAJ:MIN (resolve device paths first)`);
      if (!Number.isSafeInteger(d.rate) || d.rate < 0) throw new LimitError(`${name}: rate ${d.rate} for ${d.dev} is not a whole number`);
    }
  }

  // Controllers last: a limit that is wrong in itself reads better than "missing controller".
  if (host.controllers !== undefined) {
    const have = new Set(host.controllers);
    const listed = host.listed ?? host.controllers;
    for (const c of controllersFor(l)) {
      if (!have.has(c)) {
        throw new LimitError(
          `the ${c} controller is not available in ${host.where ?? "this cgroup hierarchy"} (${listed.length ? `it has ${listed.join(", ")}` : "it has none"})`,
        );
      }
    }
  }
}

/** Docker's cgroup v2 conversion of cpu-shares (2..262144) to cpu.weight (1..10000), as runc does. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** The CFS quota and period for a limit, in µs; quota -1 means none. */
export function cfs(l: Limits): { quota?: number; period?: number } {
  if (set(l.cpus)) return { period: 100000, quota: Math.round(l.cpus * 100000) };
  const out: { quota?: number; period?: number } = {};
  if (set(l.cpuPeriod)) out.period = l.cpuPeriod;
  if (set(l.cpuQuota)) out.quota = l.cpuQuota;
  return out;
}
