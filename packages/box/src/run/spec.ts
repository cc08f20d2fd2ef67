/**
 * Image config + `box run` flags -> one ns-exec config, the way Docker
 * combines them. Pure: no file is touched, so it is unit-tested without root.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { ExitError } from "@box/cli";
import { defaults, parseRlimit, type IdMap, type NsExecOptions } from "@box/ns-exec";
import { DEFAULT_PROFILE_PATH } from "@box/seccomp";
import type { RunFlags } from "./flags.js";
import { ALL_CAPS, DOCKER_DEFAULT_CAPS, capBit, capMask } from "./caps.js";
import { networkConfig, resolvConf, type Connection, type ExtraHost, type NetworkMode, type PortMapping } from "./network.js";
import { VOLUME_NAME } from "../container/volumes.js";

export interface ImageLike {
  config: {
    Env?: string[];
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
  };
}

/**
 * What box asks of netns-bridge for a bridge-mode container, saved with the
 * spec so that every start (box start, a restart policy) makes the same
 * endpoint again.
 */
export interface NetPlan {
  mode: NetworkMode;
  publish: PortMapping[];
  ip?: string;
  extraHosts: ExtraHost[];
  aliases: string[];
  hostname?: string;
  /** Networks added by `box network connect`, attached at each start (run/endpoint.ts). */
  connected?: Connection[];
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
  /** A host path; "" for a volume until it is resolved (run/volumes.ts). */
  source: string;
  target: string;
  readonly: boolean;
  /** A named volume's name; "" for an anonymous one (-v /path). */
  volume?: string;
}

/** -v HOST:CTR[:ro|rw], -v NAME:CTR[:ro|rw] (a volume), -v CTR (an anonymous volume). */
export function parseVolume(spec: string): Volume {
  const parts = spec.split(":");
  if (parts.length === 1) {
    if (!isAbsolute(spec)) fail(`invalid volume specification: '${spec}': mount path must be absolute`);
    return { source: "", target: spec, readonly: false, volume: "" };
  }
  let mode = "rw";
  if (parts.length === 3) mode = parts.pop()!;
  if (parts.length !== 2) fail(`invalid volume specification: '${spec}'`);
  const [source, target] = parts as [string, string];
  if (!isAbsolute(target)) fail(`invalid volume specification: '${spec}': mount path must be absolute`);
  const opts = mode.split(",");
  for (const o of opts) if (!["ro", "rw", "z", "Z", "rprivate", "private", "rslave", "slave", "nocopy"].includes(o)) fail(`invalid mode: ${o}`);
  if (isAbsolute(source)) return { source, target, readonly: opts.includes("ro") };
  if (!VOLUME_NAME.test(source)) fail(`invalid volume specification: '${spec}': "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  return { source: "", target, readonly: opts.includes("ro"), volume: source };
}

/**
 * Docker's --privileged gives every capability the daemon itself holds, not
 * every one the kernel knows: a host (or outer container) without, say,
 * SYS_RESOURCE would make capset(2) fail. The one read of the host here.
 */
function hostBoundingSet(): bigint {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? BigInt("0x" + m[1]) & ALL_CAPS : ALL_CAPS;
  } catch {
    return ALL_CAPS;
  }
}

function capabilities(f: RunFlags): bigint {
  if (f.privileged) return hostBoundingSet();
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

/** --security-opt seccomp=VALUE: ns-exec reads (and compiles) the file, as Docker's client reads it. */
function seccompOpt(v: string): string | undefined {
  if (v === "") fail("invalid --security-opt: seccomp needs unconfined, builtin or a profile path");
  if (v === "unconfined") return undefined;
  if (v === "builtin") return DEFAULT_PROFILE_PATH;
  return resolve(v);
}

export interface SpecInput {
  flags: RunFlags;
  image: ImageLike;
  id: string;
  rootfs: string;
  /** netns-bridge's $BOX_RUN/netns: where a bridge endpoint's netns and hosts files will be. */
  netnsDir?: string;
  /** --network container:CTR, resolved: the other container's netns file. */
  containerNet?: string;
  /** --userns-remap, resolved: the container gets a user namespace with these maps. */
  remap?: { uidMap: IdMap[]; gidMap: IdMap[] };
}

/** The network flags, checked, with Docker's warnings; throws 125 on bad input. */
export function netPlan(f: RunFlags, image: ImageLike, id: string): { plan: NetPlan; dns: string[]; warnings: string[] } {
  let cfg;
  try {
    cfg = networkConfig({
      network: f.network,
      publish: f.publish,
      publishAll: f.publishAll,
      exposed: [...Object.keys(image.config.ExposedPorts ?? {}), ...f.expose],
      ip: f.ip,
      hostname: f.hostname,
      addHost: f.addHost,
      dns: f.dns,
    });
  } catch (e) {
    return fail((e as Error).message);
  }
  if (cfg.mode.kind === "host" && f.hostname) fail("conflicting options: hostname and the network mode");
  if (f.networkAlias.length && cfg.mode.kind !== "bridge") fail("network-scoped aliases are only supported for user-defined networks");
  const name = f.name;
  const plan: NetPlan = {
    mode: cfg.mode,
    publish: cfg.publish,
    extraHosts: cfg.extraHosts,
    // Docker resolves a container on a user network by its name, its short id and its aliases.
    aliases: [...new Set([...(name ? [name] : []), ...f.networkAlias])],
    hostname: f.hostname ?? id.slice(0, 12),
  };
  if (cfg.ip !== undefined) plan.ip = cfg.ip;
  return { plan, dns: cfg.dns, warnings: cfg.warnings };
}

export function buildSpec({ flags: f, image, id, rootfs, netnsDir, containerNet, remap }: SpecInput): NsExecOptions {
  const o = defaults();
  const { plan, dns } = netPlan(f, image, id);
  const kind = plan.mode.kind;
  const hostNet = kind === "host";
  o.unshare = { pid: true, mount: true, ipc: true, uts: !hostNet, net: kind === "none", cgroup: false };
  if (remap) {
    // Docker's words: a privileged container in a user namespace would not be privileged.
    if (f.privileged) fail("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode (--userns=host)");
    o.unshare.user = true;
    o.uidMap = remap.uidMap;
    o.gidMap = remap.gidMap;
  }
  if (kind === "bridge") {
    // The endpoint (netns, veth, lease) is made by netns-bridge before ns-exec enters it.
    const dir = netnsDir ?? "/run/box/netns";
    o.netPath = `${dir}/${id}`;
  } else if (kind === "container") {
    if (containerNet === undefined) fail(`--network ${f.network}: the container is not resolved`);
    o.netPath = containerNet;
  }
  if (dns.length) o.resolvConf = resolvConf(dns);
  o.root = rootfs;
  o.hostname = hostNet ? undefined : (f.hostname ?? id.slice(0, 12));
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
  // A bind, not a copy: netns-bridge rewrites the file in place as containers join and leave.
  if (kind === "bridge" && !o.binds.some((b) => b.target === "/etc/hosts")) {
    o.binds.push({ source: `${netnsDir ?? "/run/box/netns"}/${id}.hosts`, target: "/etc/hosts", readonly: true });
  }
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
  o.seccomp = DEFAULT_PROFILE_PATH;
  for (const s of f.securityOpt) {
    if (s === "no-new-privileges" || s === "no-new-privileges:true" || s === "no-new-privileges=true") o.noNewPrivileges = true;
    else if (/^no-new-privileges[:=]false$/.test(s)) o.noNewPrivileges = false;
    else if (/^seccomp[=:]/.test(s)) o.seccomp = seccompOpt(s.slice("seccomp=".length));
    else fail(`invalid --security-opt: ${s} (supported: no-new-privileges, seccomp=unconfined|builtin|PROFILE.json)`);
  }
  // Docker: --privileged runs unconfined, whatever profile was given.
  if (f.privileged) o.seccomp = undefined;
  o.dieWithParent = true;
  o.command = command(f, image);
  return o;
}
