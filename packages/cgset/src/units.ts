/**
 * Docker's spellings of sizes, CPU counts, CPU lists and device rules, parsed
 * into numbers. Pure; each error message is the one Docker's own parsers give
 * (go-units, pflag), so box can pass them through unchanged.
 */

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A size in bytes as Docker's RAMInBytes reads it: `64m`, `1.5g`, `512k`,
 * `100`, `64MiB`, `64 MB`; every unit is 1024-based, a fraction is truncated.
 */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const n = Math.trunc(Number(m[1]) * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(n)) throw new Error(`invalid size: '${s}'`);
  return n;
}

/** A memory-swap value: a size, or -1 for unlimited swap. */
export function parseSwap(s: string): number {
  return s === "-1" ? -1 : parseSize(s);
}

/**
 * A number of CPUs (`0.5`, `2`, `1.25`), kept to the nanosecond as Docker's
 * NanoCPUs is; the range is checked against the host by validateLimits.
 */
export function parseCpus(s: string): number {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw new Error(`failed to parse ${s} as a rational number`);
  if ((m[3] ?? "").replace(/0+$/, "").length > 9) throw new Error("value is too precise");
  return Number(s);
}

/** A whole number, as strconv.ParseInt reads it (with Go's message). */
export function parseInteger(s: string, unsigned = false): number {
  const ok = unsigned ? /^\+?\d+$/.test(s) : /^[+-]?\d+$/.test(s);
  if (!ok) throw new Error(`strconv.Parse${unsigned ? "Uint" : "Int"}: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`strconv.Parse${unsigned ? "Uint" : "Int"}: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

/** A cpuset list (`0-1,3`) as the numbers it names, sorted, without repeats. */
export function parseCpuList(s: string): number[] {
  const out = new Set<number>();
  if (s.trim() === "") return [];
  for (const part of s.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`invalid format: ${s}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 8191) throw new Error(`invalid format: ${s}`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/** The short form of a list of numbers: [0,1,2,5] -> "0-2,5". */
export function formatCpuList(list: number[]): string {
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

export interface DeviceRate {
  /** `MAJ:MIN`, or a block device path that createCgroup resolves. */
  dev: string;
  /** Bytes per second, or I/O operations per second. */
  rate: number;
}

/**
 * `DEV:RATE` for the --device-*-bps and --device-*-iops limits. DEV is a
 * device path (`/dev/vda`) or `MAJ:MIN`; a bps RATE takes a size suffix.
 */
export function parseDeviceRate(s: string, kind: "bps" | "iops"): DeviceRate {
  const m = /^(\d+:\d+|\/[^:]*):(.*)$/.exec(s);
  if (!m) {
    if (!s.includes(":")) throw new Error(`bad format: ${s}`);
    throw new Error(`${s.slice(0, s.lastIndexOf(":"))} is not an absolute path or MAJ:MIN`);
  }
  const rate = m[2] ?? "";
  const fail = () =>
    new Error(
      kind === "bps"
        ? `invalid rate for device: ${s}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`
        : `invalid rate for device: ${s}. The correct format is <device-path>:<number>. Number must be a positive integer`,
    );
  let n: number;
  try {
    n = kind === "bps" ? parseSize(rate) : parseInteger(rate, true);
  } catch {
    throw fail();
  }
  return { dev: m[1] ?? "", rate: n };
}

export type DeviceType = "a" | "b" | "c";

/** One devices-cgroup rule, as the v1 devices.allow/deny files and runc spell it. */
export interface DeviceRule {
  allow: boolean;
  type: DeviceType;
  /** "*" matches any. */
  major: number | "*";
  minor: number | "*";
  /** Some of r (read), w (write), m (mknod). */
  access: string;
}

/**
 * `allow|deny RULE` where RULE is the devices.allow syntax: `c 1:3 rwm`,
 * `b 8:* m`, or `a` for every device.
 */
export function parseDeviceRule(s: string): DeviceRule {
  const words = s.trim().split(/\s+/);
  const verb = words.shift();
  if (verb !== "allow" && verb !== "deny") throw new Error(`device rule '${s}': must start with allow or deny`);
  const [type, nums, access = "rwm", extra] = words;
  if (type === "a" && nums === undefined) return { allow: verb === "allow", type: "a", major: "*", minor: "*", access: "rwm" };
  const m = /^(\d+|\*):(\d+|\*)$/.exec(nums ?? "");
  if ((type !== "a" && type !== "b" && type !== "c") || !m || !/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length || extra !== undefined) {
    throw new Error(`device rule '${s}': expected allow|deny TYPE MAJ:MIN ACCESS, as 'allow c 1:3 rwm'`);
  }
  const num = (v: string | undefined) => (v === "*" || v === undefined ? "*" : Number(v));
  return { allow: verb === "allow", type, major: num(m[1]), minor: num(m[2]), access };
}

/** The devices.allow/deny line for a rule: `c 1:3 rwm`. */
export function formatDeviceRule(r: DeviceRule): string {
  return r.type === "a" ? "a *:* rwm" : `${r.type} ${r.major}:${r.minor} ${r.access}`;
}
