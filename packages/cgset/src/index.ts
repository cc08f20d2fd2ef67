/**
 * @box/cgset: create, limit, enter, inspect, freeze, kill and remove cgroups,
 * on whichever hierarchy the host uses. Synchronous throughout: box calls it
 * on its main thread to place a container's first process before it runs.
 */
import fs from "node:fs";
import type { Backend, Cgroup, CreateOptions } from "./backend.js";
import { layoutOf, parseMountinfo, parseProcCgroup, v2Layout } from "./hierarchy.js";
import { LimitError, type Limits } from "./limits.js";
import type { DeviceRate } from "./units.js";
import { V1Backend } from "./v1.js";
import { V2Backend } from "./v2.js";

export type { Backend, Cgroup, CreateOptions, RemoveOptions, Stats } from "./backend.js";
export { LimitError, MIN_MEMORY, controllersFor, sharesToWeight, validateLimits, type Controller, type Host, type Limits } from "./limits.js";
export {
  formatCpuList,
  formatDeviceRule,
  parseCpuList,
  parseCpus,
  parseDeviceRate,
  parseDeviceRule,
  parseInteger,
  parseSize,
  parseSwap,
  type DeviceRate,
  type DeviceRule,
} from "./units.js";
export { DEFAULT_DEVICES, applyDeviceRules, deviceAllowed, deviceProgram, type DeviceState } from "./devices.js";
export { IoError, realIo, type Io } from "./io.js";
export { planV1, V1Backend, type V1Context, type V1Write } from "./v1.js";
export { planV2, V2Backend, INIT_LEAF, deviceProgramIds, type V2Context, type V2Write } from "./v2.js";
export { parseMountinfo, parseProcCgroup, layoutOf, splitPath, type Layout, type V1Hierarchy } from "./hierarchy.js";
export { spawnIn, type SpawnInOptions } from "./spawn.js";

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

let detected: Backend | undefined;

/**
 * The backend for this host: v1 or v2, from /proc/self/mountinfo and
 * /proc/self/cgroup; read once per process (box run creates, attaches and
 * removes a cgroup, and each would parse them again).
 */
export function detect(): Backend {
  return (detected ??= detectNow());
}

function detectNow(): Backend {
  const layout = layoutOf(parseMountinfo(readProc("/proc/self/mountinfo")), parseProcCgroup(readProc("/proc/self/cgroup")));
  if (!layout) throw new Error("no cgroup hierarchy is mounted (no cgroup or cgroup2 entry in /proc/self/mountinfo)");
  if (layout.version === 1) return new V1Backend(layout.hierarchies);
  return new V2Backend(layout.mountpoint, layout.root, layout.base);
}

/**
 * The v2 backend on the cgroup2 mount at `mountpoint`, whatever the host
 * uses: on a hybrid host, /sys/fs/cgroup/unified.
 */
export function cgroup2(mountpoint: string): Backend {
  const mp = mountpoint.replace(/\/+$/, "") || "/";
  const m = parseMountinfo(readProc("/proc/self/mountinfo")).find((x) => x.fstype === "cgroup2" && x.mountpoint === mp);
  if (!m) throw new Error(`${mp}: not a cgroup2 mount point`);
  const layout = v2Layout(m, parseProcCgroup(readProc("/proc/self/cgroup")));
  if (layout.version !== 2) throw new Error(`${mp}: not a cgroup2 mount point`);
  return new V2Backend(layout.mountpoint, layout.root, layout.base);
}

function majMin(dev: string, what: string): string {
  if (/^\d+:\d+$/.test(dev)) return dev;
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(dev, { bigint: true });
  } catch (e) {
    throw new LimitError(`${what}: stat ${dev}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isBlockDevice()) throw new LimitError(`${what}: ${dev} is not a block device`);
  const r = st.rdev;
  const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
  const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Limits with device paths (`/dev/vda`) turned into MAJ:MIN, as the cgroup files want them. */
export function resolveDevices(l: Limits): Limits {
  const fix = (list: DeviceRate[] | undefined, what: string) => list?.map((d) => ({ dev: majMin(d.dev, what), rate: d.rate }));
  const out: Limits = { ...l };
  if (l.deviceReadBps) out.deviceReadBps = fix(l.deviceReadBps, "device-read-bps");
  if (l.deviceWriteBps) out.deviceWriteBps = fix(l.deviceWriteBps, "device-write-bps");
  if (l.deviceReadIops) out.deviceReadIops = fix(l.deviceReadIops, "device-read-iops");
  if (l.deviceWriteIops) out.deviceWriteIops = fix(l.deviceWriteIops, "device-write-iops");
  return out;
}

export interface Where {
  /** Default: detect(). */
  backend?: Backend;
}

/**
 * Make the cgroup PATH (relative to the caller's own cgroup; from the
 * hierarchy's root if it starts with /) with the given limits. The limits are
 * checked before anything is made; on any failure every directory made is
 * removed again. Parents are made as needed and left in place.
 */
export function createCgroup(path: string, limits: Limits, opts: CreateOptions & Where = {}): Cgroup {
  const backend = opts.backend ?? detect();
  const l = resolveDevices(limits);
  try {
    return backend.create(path, l, opts);
  } catch (e) {
    if (e instanceof LimitError) throw e;
    throw new Error(`create ${path}`, { cause: e });
  }
}

/** An existing cgroup. */
export function openCgroup(path: string, opts: Where = {}): Cgroup {
  return (opts.backend ?? detect()).open(path);
}
