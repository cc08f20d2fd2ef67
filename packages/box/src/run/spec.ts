/**
 * Image config + `box run` flags -> one ns-exec config, the way Docker
 * combines them. Pure: no file is touched, so it is unit-tested without root.
 */
import { isAbsolute } from "node:path";
import { ExitError } from "@box/cli";
import { defaults, parseRlimit, type NsExecOptions } from "@box/ns-exec";
import type { RunFlags } from "./flags.js";
import { ALL_CAPS, DOCKER_DEFAULT_CAPS, capBit, capMask } from "./caps.js";

export interface ImageLike {
  config: {
    Env?: string[];
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    WorkingDir?: string;
    User?: string;
  };
}

/** Docker's masked and read-only paths (moby oci/defaults.go). */
export const MASKED_PATHS = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function fail(msg: string): never {
  throw new ExitError(msg, 125);
}

export function command(f: RunFlags, img: ImageLike): string[] {
  const c = img.config;
  // --entrypoint resets the image's Cmd too, as in Docker.
  const entry = f.entrypoint !== undefined ? (f.entrypoint === "" ? [] : [f.entrypoint]) : (c.Entrypoint ?? []);
  const cmd = f.args.length ? f.args : f.entrypoint !== undefined ? [] : (c.Cmd ?? []);
  const all = [...entry, ...cmd];
  if (all.length === 0) fail("No command specified");
  return all;
}

export interface Volume {
  source: string;
  target: string;
  readonly: boolean;
}

/** -v HOST:CTR[:ro|rw]. Named volumes are not supported yet: say so. */
export function parseVolume(spec: string): Volume {
  const parts = spec.split(":");
  let mode = "rw";
  if (parts.length === 3) mode = parts.pop()!;
  if (parts.length !== 2) fail(`invalid volume specification: '${spec}'`);
  const [source, target] = parts as [string, string];
  if (!isAbsolute(target)) fail(`invalid volume specification: '${spec}': mount path must be absolute`);
  if (!isAbsolute(source)) fail(`invalid volume specification: '${spec}': named volumes are not supported yet; use an absolute host path`);
  const opts = mode.split(",");
  for (const o of opts) if (!["ro", "rw", "z", "Z", "rprivate", "private", "rslave", "slave"].includes(o)) fail(`invalid mode: ${o}`);
  return { source, target, readonly: opts.includes("ro") };
}

function capabilities(f: RunFlags): bigint {
  if (f.privileged) return ALL_CAPS;
  let mask = capMask(DOCKER_DEFAULT_CAPS);
  for (const c of f.capAdd) {
    if (c.toUpperCase() === "ALL") mask = ALL_CAPS;
    else mask |= capBit(c) ?? fail(`invalid capability: ${c}`);
  }
  for (const c of f.capDrop) {
    if (c.toUpperCase() === "ALL") mask = 0n;
    else mask &= ~(capBit(c) ?? fail(`invalid capability: ${c}`));
  }
  // --cap-add after --cap-drop=ALL: Docker applies drops first, then adds.
  if (f.capDrop.some((c) => c.toUpperCase() === "ALL")) for (const c of f.capAdd) mask |= capBit(c) ?? 0n;
  return mask;
}

/** Docker's --ulimit NAME=SOFT[:HARD] as ns-exec rlimits. */
function ulimits(f: RunFlags) {
  return f.ulimits.map((u) => {
    try {
      return parseRlimit(u);
    } catch {
      return fail(`invalid ulimit argument: ${u}`);
    }
  });
}

export interface SpecInput {
  flags: RunFlags;
  image: ImageLike;
  id: string;
  rootfs: string;
}

export function buildSpec({ flags: f, image, id, rootfs }: SpecInput): NsExecOptions {
  const o = defaults();
  const net = f.network;
  if (!["none", "host"].includes(net)) {
    fail(`network ${net} not found (box supports --network none and --network host until bridge networking lands)`);
  }
  const hostNet = net === "host";
  o.unshare = { pid: true, mount: true, ipc: true, uts: !hostNet, net: !hostNet, cgroup: false };
  o.root = rootfs;
  o.hostname = hostNet ? undefined : (f.hostname ?? id.slice(0, 12));
  if (hostNet && f.hostname) fail("conflicting options: hostname and the network mode");
  o.clearEnv = true;
  const env = [...(image.config.Env ?? [])];
  if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH);
  if (o.hostname) env.push(`HOSTNAME=${o.hostname}`);
  if (f.tty) env.push("TERM=xterm");
  for (const e of f.env) {
    if (e.startsWith("=") || e === "") fail(`invalid environment variable: ${e}`);
    env.push(e);
  }
  o.env = env;
  const user = f.user ?? image.config.User ?? "";
  if (user) {
    const [u, g] = user.split(":");
    o.setuid = u || undefined;
    o.setgid = g || undefined;
  }
  o.cwd = f.workdir ?? (image.config.WorkingDir || undefined);
  if (o.cwd !== undefined && !isAbsolute(o.cwd)) fail(`the working directory '${o.cwd}' is invalid, it needs to be an absolute path`);
  o.binds = f.volumes.map(parseVolume);
  o.tmpfs = f.tmpfs.map((t) => {
    const i = t.indexOf(":");
    const target = i < 0 ? t : t.slice(0, i);
    if (!isAbsolute(target)) fail(`invalid tmpfs mount '${t}': mount path must be absolute`);
    // Docker's --tmpfs defaults: noexec, nosuid, nodev, size unlimited unless given.
    return { target, options: i < 0 ? "" : t.slice(i + 1).replace(/(^|,)(rw|noexec|nosuid|nodev|exec)(?=,|$)/g, "").replace(/^,+/, "") };
  });
  o.readOnly = f.readOnly;
  o.tty = f.tty;
  o.stdin = f.interactive;
  o.init = f.init;
  o.caps = capabilities(f);
  o.maskedPaths = f.privileged ? [] : MASKED_PATHS;
  o.readonlyPaths = f.privileged ? [] : READONLY_PATHS;
  o.rlimits = ulimits(f);
  for (const s of f.securityOpt) {
    if (s === "no-new-privileges" || s === "no-new-privileges:true" || s === "no-new-privileges=true") o.noNewPrivileges = true;
    else if (/^no-new-privileges[:=]false$/.test(s)) o.noNewPrivileges = false;
    else fail(`invalid --security-opt: ${s} (supported: no-new-privileges)`);
  }
  o.dieWithParent = true;
  o.command = command(f, image);
  return o;
}
