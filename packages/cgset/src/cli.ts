import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ExitError, UsageError, flag, list, parseArgs, str, type Parsed, type Tool } from "@box/cli";
import type { Backend, Cgroup, Stats } from "./backend.js";
import { cgroup2, createCgroup, detect, openCgroup, resolveDevices } from "./index.js";
import { DEFAULT_DEVICES } from "./devices.js";
import type { Limits } from "./limits.js";
import { spawnIn } from "./spawn.js";
import { parseCpus, parseDeviceRate, parseDeviceRule, parseInteger, parseSize, parseSwap, type DeviceRule } from "./units.js";

export const HELP = `Usage:
 cgset create [LIMITS] PATH
 cgset update [LIMITS] PATH
 cgset run [--rm] [LIMITS] PATH -- COMMAND [ARG...]
 cgset attach PATH PID...
 cgset stats [--json] PATH
 cgset procs PATH
 cgset freeze PATH
 cgset thaw PATH
 cgset kill PATH
 cgset rm [--force] [--recursive] [--parents] PATH
 cgset info

Make and manage a control group on cgroup v1 or v2, whichever the host uses.
PATH is taken below the caller's own cgroup (in each v1 hierarchy), or below
the hierarchy's root when it starts with '/'. 'create' prints the cgroup's
directories. 'run' starts COMMAND already inside the cgroup, creating it if
it is missing, and exits with COMMAND's status. 'kill' also gets processes
forked while it runs. 'rm' refuses a cgroup that still has processes.

Limits (sizes in Docker's units: b, k, m, g, all 1024-based):
 -m, --memory SIZE             memory limit, at least 6m; -1: none
     --memory-swap SIZE        memory plus swap; -1: unlimited swap
                                 (with --memory alone: twice --memory)
     --memory-reservation SIZE soft memory limit
     --cpus N                  CPU time as a number of CPUs: 0.5
 -c, --cpu-shares N            relative CPU weight, 2 to 262144
     --cpu-period US           CFS period in microseconds
     --cpu-quota US            CFS quota per period in microseconds
     --cpuset-cpus LIST        CPUs to run on: 0-1,3
     --cpuset-mems LIST        memory nodes to allocate on: 0
     --pids-limit N            most tasks at once; 0 or -1: none
     --blkio-weight N          block I/O weight, 10 to 1000
     --device-read-bps DEV:RATE
                               bytes per second read from DEV (a device
                                 path or MAJ:MIN): /dev/vda:1m
     --device-write-bps DEV:RATE
     --device-read-iops DEV:N  reads per second from DEV
     --device-write-iops DEV:N
     --devices RULE            'default' (Docker's allow-list), or
                                 'allow RULE' or 'deny RULE' with RULE as
                                 devices.allow takes it: 'c 1:3 rwm',
                                 'b 8:* m', 'a'; repeatable, in order

Options:
     --json                    stats: print one JSON object
     --rm                      run: remove the cgroup, and parents left
                                 empty, when COMMAND exits
 -f, --force                   rm: kill the cgroup's processes first
 -r, --recursive               rm: remove child cgroups too
 -p, --parents                 rm: then remove parents left empty
     --cgroup2 DIR             use the cgroup2 mount at DIR instead of the
                                 detected hierarchy
 -h, --help                    display this help and exit
`;

const LIMIT_OPTS = [
  "memory",
  "memory-swap",
  "memory-reservation",
  "cpus",
  "cpu-shares",
  "cpu-period",
  "cpu-quota",
  "cpuset-cpus",
  "cpuset-mems",
  "pids-limit",
  "blkio-weight",
];
const LIMIT_MULTI = ["device-read-bps", "device-write-bps", "device-read-iops", "device-write-iops", "devices"];
const ALIAS = { m: "memory", c: "cpu-shares", f: "force", r: "recursive", p: "parents", h: "help" };
const SPEC = {
  string: [...LIMIT_OPTS, "cgroup2"],
  multi: LIMIT_MULTI,
  boolean: ["json", "rm", "force", "recursive", "parents", "help"],
  alias: ALIAS,
};

const VERBS: Record<string, { opts: string[]; operands: string }> = {
  create: { opts: [...LIMIT_OPTS, ...LIMIT_MULTI], operands: "PATH" },
  update: { opts: [...LIMIT_OPTS, ...LIMIT_MULTI], operands: "PATH" },
  run: { opts: [...LIMIT_OPTS, ...LIMIT_MULTI, "rm"], operands: "PATH -- COMMAND" },
  attach: { opts: [], operands: "PATH PID..." },
  stats: { opts: ["json"], operands: "PATH" },
  procs: { opts: [], operands: "PATH" },
  freeze: { opts: [], operands: "PATH" },
  thaw: { opts: [], operands: "PATH" },
  kill: { opts: [], operands: "PATH" },
  rm: { opts: ["force", "recursive", "parents"], operands: "PATH" },
  info: { opts: [], operands: "" },
};

/**
 * Docker's flag parser takes the next word as an option's value whatever it
 * looks like (`--cpus -1`); minimist would read -1 as an option. Join such
 * pairs as `--opt=value`, up to `--`.
 */
function joinValues(argv: string[]): string[] {
  const valued = new Set([...SPEC.string, ...SPEC.multi].map((o) => `--${o}`));
  for (const [short, long] of Object.entries(ALIAS)) if (valued.has(`--${long}`)) valued.add(`-${short}`);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (valued.has(a) && next !== undefined && next !== "--") {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function value<T>(name: string, raw: string, parse: (s: string) => T): T {
  try {
    return parse(raw);
  } catch (e) {
    throw new UsageError(`invalid argument "${raw}" for --${name}: ${(e as Error).message}`);
  }
}

/** The limits named on the command line, and whether --devices default was among them. */
export function limitsFrom(p: Parsed): { limits: Limits; devicesDefault: boolean } {
  const l: Limits = {};
  const num = (name: string, parse: (s: string) => number, key: keyof Limits) => {
    const v = str(p, name);
    if (v !== undefined) (l as Record<string, unknown>)[key] = value(name, v, parse);
  };
  num("memory", (s) => (s === "-1" ? -1 : parseSize(s)), "memory");
  num("memory-swap", parseSwap, "memorySwap");
  num("memory-reservation", parseSize, "memoryReservation");
  num("cpus", parseCpus, "cpus");
  num("cpu-shares", (s) => parseInteger(s), "cpuShares");
  num("cpu-period", (s) => parseInteger(s), "cpuPeriod");
  num("cpu-quota", (s) => parseInteger(s), "cpuQuota");
  num("pids-limit", (s) => parseInteger(s), "pidsLimit");
  num("blkio-weight", (s) => parseInteger(s, true), "blkioWeight");
  const cpus = str(p, "cpuset-cpus");
  if (cpus !== undefined) l.cpusetCpus = cpus;
  const mems = str(p, "cpuset-mems");
  if (mems !== undefined) l.cpusetMems = mems;
  for (const [name, key, kind] of [
    ["device-read-bps", "deviceReadBps", "bps"],
    ["device-write-bps", "deviceWriteBps", "bps"],
    ["device-read-iops", "deviceReadIops", "iops"],
    ["device-write-iops", "deviceWriteIops", "iops"],
  ] as const) {
    const vals = list(p, name);
    if (vals.length) l[key] = vals.map((v) => value(name, v, (s) => parseDeviceRate(s, kind)));
  }
  let devicesDefault = false;
  const rules: DeviceRule[] = [];
  for (const v of list(p, "devices")) {
    if (v === "default") {
      if (rules.length) throw new UsageError("--devices default must come before other --devices rules");
      devicesDefault = true;
    } else rules.push(value("devices", v, parseDeviceRule));
  }
  if (rules.length) l.devices = rules;
  return { limits: l, devicesDefault };
}

function pidOf(s: string): number {
  if (!/^[1-9]\d*$/.test(s)) throw new UsageError(`'${s}' is not a process id`);
  return Number(s);
}

function formatStats(s: Stats): string {
  const lines: string[] = [];
  const put = (k: string, v: number | null | undefined, none?: string) => {
    if (v !== null && v !== undefined) lines.push(`${k} ${v}`);
    else if (none) lines.push(`${k} ${none}`);
  };
  if (s.memory) {
    put("memory.usage", s.memory.usage);
    put("memory.max_usage", s.memory.maxUsage);
    put("memory.limit", s.memory.limit, "max");
    put("memory.oom_kills", s.memory.oomKills);
  }
  if (s.cpu) {
    put("cpu.usage_ns", s.cpu.usageNs);
    put("cpu.user_ns", s.cpu.userNs);
    put("cpu.system_ns", s.cpu.systemNs);
  }
  if (s.pids) {
    put("pids.current", s.pids.current);
    put("pids.limit", s.pids.limit, "max");
  }
  if (s.io) {
    put("io.read_bytes", s.io.readBytes);
    put("io.write_bytes", s.io.writeBytes);
  }
  return lines.map((l) => `${l}\n`).join("");
}

/** Where COMMAND would be found, as execvp searches; an exec-style error if nowhere. */
function findCommand(cmd: string): void {
  const fail = (code: string, desc: string, status: number) => {
    throw new ExitError(`exec ${cmd}: ${code} (${desc})`, status);
  };
  const candidates = cmd.includes("/") ? [cmd] : (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":").map((d) => path.join(d || ".", cmd));
  let denied = false;
  for (const c of candidates) {
    try {
      if (!fs.statSync(c).isFile()) {
        denied = true;
        continue;
      }
      fs.accessSync(c, fs.constants.X_OK);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EACCES") denied = true;
    }
  }
  if (denied) fail("EACCES", "permission denied", 126);
  fail("ENOENT", "no such file or directory", 127);
}

const FORWARD: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

async function runVerb(backend: Backend, cgPath: string, p: Parsed, command: string[]): Promise<number> {
  const [cmd, ...args] = command;
  if (cmd === undefined) throw new UsageError("run: missing COMMAND after PATH --");
  findCommand(cmd);
  const { limits, devicesDefault } = limitsFrom(p);
  const haveLimits = Object.keys(limits).length > 0 || devicesDefault;
  let cg: Cgroup;
  const created = !backend.exists(cgPath);
  if (!created) {
    cg = backend.open(cgPath);
    if (haveLimits) cg.update(resolveDevices(withDefaults(limits, devicesDefault)));
  } else {
    cg = createCgroup(cgPath, limits, { backend, devicesDefault, log });
  }
  let child;
  try {
    child = spawnIn(cg, cmd, args);
  } catch (e) {
    // A cgroup made for a command that never ran is undone.
    if (created || flag(p, "rm")) cg.remove({ kill: true, recursive: true, parents: created });
    throw e;
  }
  // A terminal's ^C reaches the child too (same process group); the others are passed on.
  const handlers = FORWARD.map((sig) => {
    const h = () => {
      if (sig !== "SIGINT" && sig !== "SIGQUIT") child.kill(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("exit", (c, s) => resolve([c, s])),
  );
  for (const [sig, h] of handlers) process.off(sig, h);
  if (flag(p, "rm")) cg.remove({ kill: true, recursive: true, parents: true });
  if (signal) {
    // Die the way the command died, as util-linux does, so a caller sees the signal.
    process.kill(process.pid, signal);
    return 128 + (os.constants.signals[signal] ?? 0);
  }
  return code ?? 1;
}

/** Limits with Docker's default device list in front of any --devices rules (update replaces, v2 cannot add). */
function withDefaults(l: Limits, devicesDefault: boolean): Limits {
  return devicesDefault ? { ...l, devices: [...DEFAULT_DEVICES, ...(l.devices ?? [])] } : l;
}

function log(message: string): void {
  process.stderr.write(`cgset: ${message}\n`);
}

async function run(argv: string[]): Promise<number> {
  const p = parseArgs(joinValues(argv), SPEC);
  if (flag(p, "help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const [verb, ...operands] = p.rest;
  if (verb === undefined) throw new UsageError("missing command (create, update, run, attach, stats, procs, freeze, thaw, kill, rm, info)");
  const spec = VERBS[verb];
  if (!spec) throw new UsageError(`unknown command '${verb}'`);
  for (const [k, v] of Object.entries(p.opts)) {
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) continue;
    if (k === "help" || k === "cgroup2" || k in ALIAS) continue;
    if (!spec.opts.includes(k)) throw new UsageError(`--${k} cannot be used with ${verb}`);
  }
  const mount = str(p, "cgroup2");
  const backend = mount !== undefined ? cgroup2(mount) : detect();

  if (verb === "info") {
    if (operands.length) throw new UsageError(`unexpected argument '${operands[0]}'`);
    process.stdout.write(`version ${backend.version}\n`);
    for (const b of backend.bases()) process.stdout.write(`${b.controllers.join(",")} ${b.dir}\n`);
    return 0;
  }
  const [cgPath, ...more] = operands;
  if (cgPath === undefined || cgPath === "") throw new UsageError(`${verb}: missing PATH`);

  switch (verb) {
    case "create": {
      if (more.length) throw new UsageError(`unexpected argument '${more[0]}'`);
      const { limits, devicesDefault } = limitsFrom(p);
      const cg = createCgroup(cgPath, limits, { backend, devicesDefault, log });
      process.stdout.write(cg.dirs.map((d) => `${d}\n`).join(""));
      return 0;
    }
    case "update": {
      if (more.length) throw new UsageError(`unexpected argument '${more[0]}'`);
      const { limits, devicesDefault } = limitsFrom(p);
      if (Object.keys(limits).length === 0 && !devicesDefault) throw new UsageError("update: no limits given");
      openCgroup(cgPath, { backend }).update(resolveDevices(withDefaults(limits, devicesDefault)));
      return 0;
    }
    case "run":
      return runVerb(backend, cgPath, p, more);
    case "attach": {
      if (more.length === 0) throw new UsageError("attach: missing PID");
      const pids = more.map(pidOf);
      const cg = openCgroup(cgPath, { backend });
      for (const pid of pids) cg.attach(pid);
      return 0;
    }
    default:
      break;
  }
  if (more.length) throw new UsageError(`unexpected argument '${more[0]}'`);
  const cg = openCgroup(cgPath, { backend });
  switch (verb) {
    case "stats": {
      const s = cg.stats();
      process.stdout.write(flag(p, "json") ? `${JSON.stringify(s)}\n` : formatStats(s));
      return 0;
    }
    case "procs":
      process.stdout.write(cg.procs().map((pid) => `${pid}\n`).join(""));
      return 0;
    case "freeze":
      cg.freeze();
      return 0;
    case "thaw":
      cg.thaw();
      return 0;
    case "kill":
      cg.kill();
      return 0;
    case "rm":
      try {
        cg.remove({ kill: flag(p, "force"), recursive: flag(p, "recursive"), parents: flag(p, "parents") });
      } catch (e) {
        const m = (e as Error).message;
        if (/: not empty: /.test(m)) throw new Error(`${m} (--force kills them)`);
        if (/: has child cgroups /.test(m)) throw new Error(`${m} (--recursive removes them)`);
        throw e;
      }
      return 0;
  }
  return 0;
}

export const cgset: Tool = { name: "cgset", run };
