/**
 * `box run`'s resource flags, as Docker spells and checks them, turned into
 * cgset's Limits. Every refusal is an ExitError with status 125 and Docker's
 * own wording: pflag's `invalid argument "12zz" for "-m, --memory" flag: ...`
 * for a value that does not parse, the daemon's sentence for one that parses
 * but cannot be honoured.
 */
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { ExitError } from "@box/cli";
import type { DeviceRate, Limits } from "@box/cgset";

export type { Limits };

/** What the checks compare against; by default this host. */
export interface ResourceHost {
  /** CPUs box may use (Docker's NumCPU: the affinity mask). */
  ncpu: number;
  /** Online CPUs and memory nodes, as cpuset lists: "0-1". */
  cpus: string;
  mems: string;
}

function readList(file: string, fallback: string): string {
  try {
    return readFileSync(file, "utf8").trim() || fallback;
  } catch {
    return fallback;
  }
}

export function thisHost(): ResourceHost {
  const ncpu = availableParallelism();
  return {
    ncpu,
    cpus: readList("/sys/devices/system/cpu/online", ncpu > 1 ? `0-${ncpu - 1}` : "0"),
    mems: readList("/sys/devices/system/node/online", "0"),
  };
}

const fail = (msg: string): never => {
  throw new ExitError(msg, 125);
};

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: 1024-based b/k/m/g/t/p, optional i and b. */
function ramInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  return Math.trunc(Number(m[1]) * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
}

function parseInt64(s: string, unsigned: boolean, bits = 64): number {
  const fn = unsigned ? "ParseUint" : "ParseInt";
  if (!(unsigned ? /^\+?\d+$/ : /^[+-]?\d+$/).test(s)) throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  const max = unsigned ? 2 ** bits - 1 : Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n > max) throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

function parseNanoCpus(s: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(s)) throw new Error(`failed to parse ${s} as a rational number`);
  const frac = s.split(".")[1] ?? "";
  if (frac.replace(/0+$/, "").length > 9) throw new Error("value is too precise");
  return Number(s);
}

function throttle(s: string, kind: "bps" | "iops"): DeviceRate {
  const i = s.indexOf(":");
  if (i <= 0) throw new Error(`bad format: ${s}`);
  const dev = s.slice(0, i);
  if (!dev.startsWith("/dev/")) throw new Error(`bad format for device path: ${s}`);
  const v = s.slice(i + 1);
  try {
    return { dev, rate: kind === "bps" ? ramInBytes(v) : parseInt64(v, true) };
  } catch {
    throw new Error(
      kind === "bps"
        ? `invalid rate for device: ${s}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`
        : `invalid rate for device: ${s}. The correct format is <device-path>:<number>. Number must be a positive integer`,
    );
  }
}

function cpuList(s: string): number[] | null {
  const out = new Set<number>();
  for (const part of s.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return null;
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out];
}

type Opts = Record<string, string | string[] | undefined>;

/** The flags, as Docker names them in its messages; the keys box's parser may use. */
const FLAGS = {
  memory: { label: "-m, --memory", keys: ["memory", "m"] },
  memorySwap: { label: "--memory-swap", keys: ["memory-swap"] },
  memoryReservation: { label: "--memory-reservation", keys: ["memory-reservation"] },
  cpus: { label: "--cpus", keys: ["cpus"] },
  cpuShares: { label: "-c, --cpu-shares", keys: ["cpu-shares", "c"] },
  cpuPeriod: { label: "--cpu-period", keys: ["cpu-period"] },
  cpuQuota: { label: "--cpu-quota", keys: ["cpu-quota"] },
  cpusetCpus: { label: "--cpuset-cpus", keys: ["cpuset-cpus"] },
  cpusetMems: { label: "--cpuset-mems", keys: ["cpuset-mems"] },
  pidsLimit: { label: "--pids-limit", keys: ["pids-limit"] },
  blkioWeight: { label: "--blkio-weight", keys: ["blkio-weight"] },
  deviceReadBps: { label: "--device-read-bps", keys: ["device-read-bps"] },
  deviceWriteBps: { label: "--device-write-bps", keys: ["device-write-bps"] },
  deviceReadIops: { label: "--device-read-iops", keys: ["device-read-iops"] },
  deviceWriteIops: { label: "--device-write-iops", keys: ["device-write-iops"] },
} as const;

type Name = keyof typeof FLAGS;

/** Every value given for a flag (repeatable flags may come as arrays), last one last. */
function values(opts: Opts, name: Name): string[] {
  const out: string[] = [];
  for (const k of FLAGS[name].keys) {
    const v = opts[k];
    if (v === undefined) continue;
    out.push(...(Array.isArray(v) ? v : [v]));
  }
  return out;
}

function parsed<T>(opts: Opts, name: Name, parse: (s: string) => T): T | undefined {
  const all = values(opts, name);
  const raw = all[all.length - 1];
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (e) {
    return fail(`invalid argument "${raw}" for "${FLAGS[name].label}" flag: ${(e as Error).message}`);
  }
}

const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * Docker's run flags to Limits; throws ExitError(125) for what Docker would
 * refuse, flag syntax first, then the daemon's checks against the host.
 */
export function parseResourceFlags(opts: Opts, host: ResourceHost = thisHost()): Limits {
  const l: Limits = {};
  const set = <K extends keyof Limits>(k: K, v: Limits[K] | undefined) => {
    if (v !== undefined) l[k] = v;
  };
  set("memory", parsed(opts, "memory", ramInBytes));
  set("memorySwap", parsed(opts, "memorySwap", (s) => (s === "-1" ? -1 : ramInBytes(s))));
  set("memoryReservation", parsed(opts, "memoryReservation", ramInBytes));
  set("cpus", parsed(opts, "cpus", parseNanoCpus));
  set("cpuShares", parsed(opts, "cpuShares", (s) => parseInt64(s, false)));
  set("cpuPeriod", parsed(opts, "cpuPeriod", (s) => parseInt64(s, false)));
  set("cpuQuota", parsed(opts, "cpuQuota", (s) => parseInt64(s, false)));
  set("cpusetCpus", parsed(opts, "cpusetCpus", (s) => s));
  set("cpusetMems", parsed(opts, "cpusetMems", (s) => s));
  set("pidsLimit", parsed(opts, "pidsLimit", (s) => parseInt64(s, false)));
  set("blkioWeight", parsed(opts, "blkioWeight", (s) => parseInt64(s, true, 16)));
  for (const [name, kind] of [
    ["deviceReadBps", "bps"],
    ["deviceWriteBps", "bps"],
    ["deviceReadIops", "iops"],
    ["deviceWriteIops", "iops"],
  ] as const) {
    const list = values(opts, name).map((raw) => {
      try {
        return throttle(raw, kind);
      } catch (e) {
        return fail(`invalid argument "${raw}" for "${FLAGS[name].label}" flag: ${(e as Error).message}`);
      }
    });
    if (list.length) l[name] = list;
  }

  // Docker's zero means "not set".
  for (const k of ["memory", "memorySwap", "memoryReservation", "cpus", "cpuShares", "cpuPeriod", "cpuQuota", "blkioWeight"] as const) {
    if (l[k] === 0) delete l[k];
  }

  // The daemon's checks (verifyPlatformContainerResources), in its order.
  const { memory, memorySwap, memoryReservation, cpus, cpuPeriod, cpuQuota, blkioWeight } = l;
  if (memory !== undefined && memory < MIN_MEMORY) fail("Minimum memory limit allowed is 6MB");
  if (memorySwap !== undefined && memory === undefined) fail("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (memory !== undefined && memorySwap !== undefined && memorySwap !== -1 && memorySwap < memory) {
    fail("Minimum memoryswap limit should be larger than memory limit, see usage");
  }
  if (memoryReservation !== undefined && memoryReservation < MIN_MEMORY) fail("Minimum memory reservation allowed is 6MB");
  if (memory !== undefined && memoryReservation !== undefined && memory < memoryReservation) {
    fail("Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  if (cpus !== undefined && cpuPeriod !== undefined) fail("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (cpus !== undefined && cpuQuota !== undefined) fail("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (cpus !== undefined) {
    const nano = Math.round(cpus * 1e9);
    if (nano < 1e7 || nano > host.ncpu * 1e9) {
      fail(`Range of CPUs is from 0.01 to ${host.ncpu.toFixed(2)}, as there are only ${host.ncpu} CPUs available`);
    }
  }
  if (cpuPeriod !== undefined && (cpuPeriod < 1000 || cpuPeriod > 1000000)) {
    fail("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  }
  if (cpuQuota !== undefined && cpuQuota > 0 && cpuQuota < 1000) fail("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  for (const [what, name, v, avail] of [
    ["CPUs", "cpus", l.cpusetCpus, host.cpus],
    ["memory nodes", "mems", l.cpusetMems, host.mems],
  ] as const) {
    if (v === undefined) continue;
    const want = cpuList(v);
    if (!want) fail(`Invalid value ${v} for cpuset ${name}`);
    const have = new Set(cpuList(avail) ?? []);
    if (want?.some((c) => !have.has(c))) fail(`Requested ${what} are not available - requested ${v}, available: ${avail}`);
  }
  if (blkioWeight !== undefined && (blkioWeight < 10 || blkioWeight > 1000)) fail("Range of blkio weight is from 10 to 1000");
  return l;
}

/** The resource flags in @box/cli's spec terms, shared by `box run` and `box update`. */
export const RESOURCE_SPEC = {
  string: ["memory", "memory-swap", "memory-reservation", "cpus", "cpu-shares", "cpu-period", "cpu-quota", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight"],
  multi: ["device-read-bps", "device-write-bps", "device-read-iops", "device-write-iops"],
  alias: { m: "memory", c: "cpu-shares" } as Record<string, string>,
};

/** The resource flags among parsed options, as parseResourceFlags takes them. */
export function resourceOpts(opts: Record<string, unknown>): Opts {
  const out: Opts = {};
  for (const k of [...RESOURCE_SPEC.string, ...RESOURCE_SPEC.multi]) {
    const v = opts[k];
    if (typeof v === "string" || Array.isArray(v)) out[k] = v as string | string[];
  }
  return out;
}

/** The help lines of the resource flags, in Docker's words. */
export const RESOURCE_HELP = `      --blkio-weight uint16        Block IO (relative weight), between 10 and 1000
  -c, --cpu-shares int             CPU shares (relative weight)
      --cpu-period int             Limit CPU CFS (Completely Fair Scheduler) period
      --cpu-quota int              Limit CPU CFS (Completely Fair Scheduler) quota
      --cpus decimal               Number of CPUs
      --cpuset-cpus string         CPUs in which to allow execution (0-3, 0,1)
      --cpuset-mems string         MEMs in which to allow execution (0-3, 0,1)
      --device-read-bps list       Limit read rate (bytes per second) from a device
      --device-read-iops list      Limit read rate (IO per second) from a device
      --device-write-bps list      Limit write rate (bytes per second) to a device
      --device-write-iops list     Limit write rate (IO per second) to a device
  -m, --memory bytes               Memory limit
      --memory-reservation bytes   Memory soft limit
      --memory-swap bytes          Swap limit equal to memory plus swap: '-1' to
                                   enable unlimited swap
      --pids-limit int             Tune container pids limit (set -1 for unlimited)
`;
