import { isAbsolute } from "node:path";
import { UsageError } from "@box/cli";
import type { NamespaceKind } from "./namespaces.js";
import { namespaceByKind } from "./namespaces.js";

export interface IdMap {
  inside: number;
  outside: number;
  count: number;
}

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
}

export interface TmpfsMount {
  target: string;
  /** mount(2) data, e.g. "size=64m,mode=1777". */
  options: string;
}

export interface Rlimit {
  name: string;
  soft: number;
  hard: number;
}

/** Everything ns-exec can do, as one config (runc's approach: convert argv, validate, then act). */
export interface NsExecOptions {
  /** New namespaces to create. `net` may instead name a netns file to enter. */
  unshare: Partial<Record<NamespaceKind, boolean>>;
  netPath?: string;
  uidMap: IdMap[];
  gidMap: IdMap[];
  /** Existing namespaces to enter (by file), e.g. from /proc/PID/ns/*. */
  join: { kind: NamespaceKind; path: string }[];
  root?: string;
  hostname?: string;
  env: string[];
  /** Start from an empty environment (the default with --root). */
  clearEnv: boolean;
  cwd?: string;
  setuid?: string;
  setgid?: string;
  /**
   * Supplementary groups (numeric), instead of the user's from the root's
   * /etc/group: for a caller that resolved them itself, as box exec does
   * through /proc/PID/root.
   */
  groups?: number[];
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  readOnly: boolean;
  binds: BindMount[];
  tmpfs: TmpfsMount[];
  /** Content of /etc/hosts and /etc/resolv.conf inside the root; generated when absent. */
  hosts?: string;
  resolvConf?: string;
  tty: boolean;
  /**
   * With `tty` and no root of its own: a directory (e.g. /proc/PID/root of a
   * container) whose dev/pts/ptmx gives the terminal, resolved inside it, so
   * the command's terminal is one of the container's /dev/pts/N.
   */
  ptyRoot?: string;
  /** Pass our stdin to the command; otherwise it reads /dev/null (docker run without -i). */
  stdin: boolean;
  init: boolean;
  /** Capabilities to keep (bit mask); undefined keeps all, as unshare(1) does. */
  caps?: bigint;
  maskedPaths: string[];
  readonlyPaths: string[];
  /**
   * Seccomp filter file: a Docker JSON profile (compiled for `caps` and this
   * machine) or a compiled program; undefined runs unconfined.
   */
  seccomp?: string;
  /** Kill the container if ns-exec dies (foreground runs). */
  dieWithParent: boolean;
  /**
   * Leave the command running in the background (box exec -d): ns-init
   * joins the PID namespace itself, forks the command off inside it and
   * stays outside as its parent to reap it (the namespace's PID 1 may reap
   * nothing); its stdio is /dev/null, and nsExec resolves to 0 once it has
   * been executed.
   */
  background?: boolean;
  command: string[];
}

export function defaults(): NsExecOptions {
  return {
    unshare: {},
    uidMap: [],
    gidMap: [],
    join: [],
    env: [],
    clearEnv: false,
    rlimits: [],
    noNewPrivileges: false,
    readOnly: false,
    binds: [],
    tmpfs: [],
    tty: false,
    stdin: true,
    init: false,
    maskedPaths: [],
    readonlyPaths: [],
    dieWithParent: true,
    command: [],
  };
}

export const RLIMIT_NAMES = [
  "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
  "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
];

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * Pure checks of a config, before any side effect. Each message names the
 * missing prerequisite, as runc's validator does.
 */
export function validate(o: NsExecOptions): void {
  if (o.command.length === 0) throw new UsageError("no command given");
  if (o.root !== undefined && !isAbsolute(o.root)) throw new UsageError(`--root ${o.root}: not an absolute path`);
  if (o.root !== undefined && !o.unshare.mount && !o.join.some((j) => j.kind === "mount"))
    throw new UsageError("--root needs a private mount namespace (--mount)");
  if (o.root !== undefined && o.join.some((j) => j.kind === "mount"))
    throw new UsageError("--root cannot be used with --join-ns mnt: the joined namespace brings its own root");
  if (o.root !== undefined && !o.unshare.pid)
    throw new UsageError("--root needs a new PID namespace (--pid) to mount its /proc");
  if (o.hostname !== undefined) {
    if (!o.unshare.uts) throw new UsageError("unable to set hostname without a private UTS namespace (--uts)");
    if (!HOSTNAME.test(o.hostname) || o.hostname.length > 64) throw new UsageError(`invalid hostname '${o.hostname}'`);
  }
  if ((o.uidMap.length || o.gidMap.length) && !o.unshare.user)
    throw new UsageError("uid/gid maps need a new user namespace (--user)");
  if (o.unshare.user && o.uidMap.length === 0) throw new UsageError("--user needs --map-root-user or --uid-map");
  if (o.unshare.user && !o.unshare.mount) throw new UsageError("--user needs --mount (the mount namespace must belong to the user namespace)");
  for (const m of [...o.uidMap, ...o.gidMap]) {
    if (![m.inside, m.outside, m.count].every((n) => Number.isInteger(n) && n >= 0) || m.count === 0)
      throw new UsageError(`invalid id map ${m.inside}:${m.outside}:${m.count}`);
  }
  if (o.netPath !== undefined && o.unshare.net) throw new UsageError("--net=PATH enters a namespace; it cannot also create one");
  for (const j of o.join) {
    if (!namespaceByKind(j.kind)) throw new UsageError(`unknown namespace type '${j.kind}'`);
    if (o.unshare[j.kind]) throw new UsageError(`cannot both create and join a ${j.kind} namespace`);
  }
  for (const e of o.env) {
    if (!/^[^=\0]+(=|$)/.test(e)) throw new UsageError(`invalid environment variable '${e}'`);
  }
  if (o.seccomp === "") throw new UsageError("--seccomp needs a FILE");
  if (o.cwd !== undefined && !isAbsolute(o.cwd)) throw new UsageError(`--cwd ${o.cwd}: not an absolute path`);
  for (const r of o.rlimits) {
    if (!RLIMIT_NAMES.includes(r.name)) throw new UsageError(`unknown rlimit '${r.name}'`);
    if (r.hard >= 0 && (r.soft < 0 || r.soft > r.hard)) throw new UsageError(`rlimit ${r.name}: soft limit above hard limit`);
  }
  const needsRoot = o.readOnly || o.binds.length || o.tmpfs.length;
  if (needsRoot && o.root === undefined) throw new UsageError("--read-only, --bind and --tmpfs need --root");
  for (const b of o.binds) {
    if (!isAbsolute(b.source)) throw new UsageError(`bind source '${b.source}' is not an absolute path`);
    if (!isAbsolute(b.target)) throw new UsageError(`bind target '${b.target}' is not an absolute path`);
  }
  for (const t of o.tmpfs) {
    if (!isAbsolute(t.target)) throw new UsageError(`tmpfs target '${t.target}' is not an absolute path`);
  }
  if (o.tty && o.init === false && o.command.length === 0) throw new UsageError("no command given");
  if (o.background) {
    if (!o.join.some((j) => j.kind === "pid")) throw new UsageError("a background command needs a joined PID namespace to run in");
    if (o.init) throw new UsageError("a background command cannot have an init of its own");
  }
}

/** "NAME=SOFT[:HARD]" with "unlimited" or -1 for no limit. */
export function parseRlimit(spec: string): Rlimit {
  const m = /^([a-z]+)=(-?\d+|unlimited)(?::(-?\d+|unlimited))?$/.exec(spec);
  if (!m) throw new UsageError(`invalid rlimit '${spec}' (want NAME=SOFT[:HARD])`);
  const num = (s: string) => (s === "unlimited" ? -1 : Number(s));
  const soft = num(m[2]!);
  const hard = m[3] !== undefined ? num(m[3]) : soft;
  return { name: m[1]!, soft, hard };
}

/** "INSIDE:OUTSIDE:COUNT", the order of /proc/PID/uid_map. */
export function parseIdMap(spec: string): IdMap {
  const m = /^(\d+):(\d+):(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`invalid id map '${spec}' (want INSIDE:OUTSIDE:COUNT)`);
  return { inside: Number(m[1]), outside: Number(m[2]), count: Number(m[3]) };
}

/** "SRC:DST[:ro|rw]". */
export function parseBind(spec: string): BindMount {
  const parts = spec.split(":");
  let readonly = false;
  if (parts.length === 3 && (parts[2] === "ro" || parts[2] === "rw")) {
    readonly = parts.pop() === "ro";
  }
  if (parts.length === 1) parts.push(parts[0]!);
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`invalid bind '${spec}' (want SRC:DST[:ro])`);
  return { source: parts[0], target: parts[1], readonly };
}

/** "DST[:OPTIONS]"; options default to Docker's for --tmpfs. */
export function parseTmpfs(spec: string): TmpfsMount {
  const i = spec.indexOf(":");
  const target = i < 0 ? spec : spec.slice(0, i);
  const options = i < 0 ? "" : spec.slice(i + 1);
  if (!target) throw new UsageError(`invalid tmpfs '${spec}' (want DST[:OPTIONS])`);
  return { target, options };
}
