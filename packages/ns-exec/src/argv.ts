/**
 * ns-exec's command line <-> NsExecOptions, both ways: `box run --explain`
 * prints toArgv() of the very config box runs, so the two cannot drift.
 */
import { parseArgs, str, list, flag, UsageError } from "@box/cli";
import type { NsExecOptions } from "./options.js";
import { defaults, parseBind, parseIdMap, parseRlimit, parseTmpfs } from "./options.js";
import type { NamespaceKind } from "./namespaces.js";
import { namespaceByKind } from "./namespaces.js";
import { readFileSync, readlinkSync } from "node:fs";

const SPEC = {
  boolean: ["pid", "mount", "uts", "ipc", "cgroupns", "user", "map-root-user", "read-only", "clear-env", "keep-env", "no-new-privileges", "tty", "init", "help", "version", "detach-on-exit"],
  string: ["net", "root", "hostname", "cwd", "setuid", "setgid", "groups", "join", "hosts", "resolv-conf", "caps", "seccomp"],
  multi: ["env", "uid-map", "gid-map", "join-ns", "bind", "tmpfs", "rlimit", "mask", "ro-path"],
  alias: { p: "pid", m: "mount", u: "uts", i: "ipc", C: "cgroupns", U: "user", r: "root", e: "env", w: "cwd", S: "setuid", G: "setgid", t: "tty", h: "help", n: "net" },
  stopEarly: true,
};

export interface ParsedCli {
  options: NsExecOptions;
  help: boolean;
}

export function fromArgv(argv: string[]): ParsedCli {
  // `--net` alone creates a namespace, `--net=PATH` enters one; minimist would
  // otherwise take the next word as the path.
  const args: string[] = [];
  let operands = false;
  for (const a of argv) {
    if (!operands && (a === "--net" || a === "-n")) args.push("--net=");
    else args.push(a);
    if (a === "--" || (!a.startsWith("-") && !operands && args.length > 0 && !isValueOf(args))) operands = true;
  }
  const p = parseArgs(args, SPEC);
  const o = defaults();
  if (flag(p, "help")) return { options: o, help: true };
  o.unshare = {
    pid: flag(p, "pid"),
    mount: flag(p, "mount"),
    uts: flag(p, "uts"),
    ipc: flag(p, "ipc"),
    cgroup: flag(p, "cgroupns"),
    user: flag(p, "user"),
  };
  const net = str(p, "net");
  if (net !== undefined) {
    if (net === "") o.unshare.net = true;
    else o.netPath = net;
  }
  o.uidMap = list(p, "uid-map").map(parseIdMap);
  o.gidMap = list(p, "gid-map").map(parseIdMap);
  if (flag(p, "map-root-user")) {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    o.uidMap.push({ inside: 0, outside: uid, count: 1 });
    o.gidMap.push({ inside: 0, outside: gid, count: 1 });
  }
  const joinPid = str(p, "join");
  if (joinPid !== undefined) {
    if (!/^\d+$/.test(joinPid)) throw new UsageError(`--join ${joinPid}: not a PID`);
    // Its user namespace only where it differs from ours, as nsenter --all.
    if (sameNamespace(`/proc/${joinPid}/ns/user`, "/proc/self/ns/user") === false) {
      o.join.push({ kind: "user", path: `/proc/${joinPid}/ns/user` });
    }
    for (const kind of ["cgroup", "ipc", "uts", "net", "pid", "mount"] as NamespaceKind[]) {
      // pid_for_children: a process that made a PID namespace as it made a
      // user namespace (ns-init with --user) is not in it itself, its children are.
      const file = kind === "pid" ? "pid_for_children" : namespaceByKind(kind)!.proc;
      o.join.push({ kind, path: `/proc/${joinPid}/ns/${file}` });
    }
  }
  for (const j of list(p, "join-ns")) {
    const i = j.indexOf("=");
    const ns = namespaceByKind(j.slice(0, i));
    if (i < 0 || !ns) throw new UsageError(`invalid --join-ns '${j}' (want TYPE=PATH, TYPE one of user cgroup ipc uts net pid mnt)`);
    o.join.push({ kind: ns.kind, path: j.slice(i + 1) });
  }
  o.root = str(p, "root");
  o.hostname = str(p, "hostname");
  o.env = list(p, "env");
  o.clearEnv = flag(p, "clear-env") || (o.root !== undefined && !flag(p, "keep-env"));
  o.cwd = str(p, "cwd");
  o.setuid = str(p, "setuid");
  o.setgid = str(p, "setgid");
  const groups = str(p, "groups");
  if (groups !== undefined) {
    if (!/^\d+(,\d+)*$/.test(groups)) throw new UsageError(`--groups ${groups}: want numeric GIDs separated by commas`);
    o.groups = groups.split(",").map(Number);
  }
  o.rlimits = list(p, "rlimit").map(parseRlimit);
  o.noNewPrivileges = flag(p, "no-new-privileges");
  o.readOnly = flag(p, "read-only");
  o.binds = list(p, "bind").map(parseBind);
  o.tmpfs = list(p, "tmpfs").map(parseTmpfs);
  const hosts = str(p, "hosts");
  if (hosts !== undefined) o.hosts = readFileSync(hosts, "utf8");
  const resolv = str(p, "resolv-conf");
  if (resolv !== undefined) o.resolvConf = readFileSync(resolv, "utf8");
  const caps = str(p, "caps");
  if (caps !== undefined) {
    if (!/^[0-9a-fA-F]{1,16}$/.test(caps)) throw new UsageError(`--caps ${caps}: not a hex capability mask`);
    o.caps = BigInt("0x" + caps);
  }
  o.maskedPaths = list(p, "mask");
  o.readonlyPaths = list(p, "ro-path");
  o.seccomp = str(p, "seccomp");
  o.tty = flag(p, "tty");
  // Joining a process with a terminal: one of its own /dev/pts, as nsenter users get from docker exec -t.
  if (o.tty && joinPid !== undefined && o.root === undefined) o.ptyRoot = `/proc/${joinPid}/root`;
  o.init = flag(p, "init");
  o.command = p.rest;
  return { options: o, help: false };
}

/** Was the last pushed word the value of the option before it? */
function isValueOf(args: string[]): boolean {
  const prev = args[args.length - 2];
  if (!prev || !prev.startsWith("-") || prev.includes("=")) return false;
  const name = prev.replace(/^--?/, "");
  const full = (SPEC.alias as Record<string, string>)[name] ?? name;
  return SPEC.string.includes(full) || SPEC.multi.includes(full);
}

/**
 * The ns-exec argv for a config. Files given as content (hosts, resolv.conf)
 * are named by the paths in `files`, which the caller writes.
 */
export function toArgv(o: NsExecOptions, files: { hosts?: string; resolvConf?: string } = {}): string[] {
  const a: string[] = [];
  const u = o.unshare;
  if (u.user) a.push("--user");
  if (u.pid) a.push("--pid");
  if (u.mount) a.push("--mount");
  if (u.uts) a.push("--uts");
  if (u.ipc) a.push("--ipc");
  if (u.net) a.push("--net");
  if (o.netPath) a.push(`--net=${o.netPath}`);
  if (u.cgroup) a.push("--cgroupns");
  for (const m of o.uidMap) a.push("--uid-map", `${m.inside}:${m.outside}:${m.count}`);
  for (const m of o.gidMap) a.push("--gid-map", `${m.inside}:${m.outside}:${m.count}`);
  for (const j of o.join) a.push("--join-ns", `${j.kind}=${j.path}`);
  if (o.root !== undefined) a.push("--root", o.root);
  if (o.hostname !== undefined) a.push("--hostname", o.hostname);
  if (o.root !== undefined && !o.clearEnv) a.push("--keep-env");
  if (o.root === undefined && o.clearEnv) a.push("--clear-env");
  for (const e of o.env) a.push("--env", e);
  if (o.cwd !== undefined) a.push("--cwd", o.cwd);
  if (o.setuid !== undefined) a.push("--setuid", o.setuid);
  if (o.setgid !== undefined) a.push("--setgid", o.setgid);
  if (o.groups !== undefined) a.push("--groups", o.groups.join(","));
  for (const r of o.rlimits) a.push("--rlimit", `${r.name}=${r.soft}:${r.hard}`);
  if (o.noNewPrivileges) a.push("--no-new-privileges");
  if (o.readOnly) a.push("--read-only");
  for (const b of o.binds) a.push("--bind", `${b.source}:${b.target}${b.readonly ? ":ro" : ""}`);
  for (const t of o.tmpfs) a.push("--tmpfs", t.options ? `${t.target}:${t.options}` : t.target);
  if (o.hosts !== undefined && files.hosts) a.push("--hosts", files.hosts);
  if (o.resolvConf !== undefined && files.resolvConf) a.push("--resolv-conf", files.resolvConf);
  if (o.caps !== undefined) a.push("--caps", o.caps.toString(16));
  for (const m of o.maskedPaths) a.push("--mask", m);
  for (const r of o.readonlyPaths) a.push("--ro-path", r);
  if (o.seccomp !== undefined) a.push("--seccomp", o.seccomp);
  if (o.tty) a.push("--tty");
  if (o.init) a.push("--init");
  a.push("--", ...o.command);
  return a;
}

/** Whether two namespace files name the same namespace; undefined when one cannot be read. */
function sameNamespace(a: string, b: string): boolean | undefined {
  try {
    return readlinkSync(a) === readlinkSync(b);
  } catch {
    return undefined;
  }
}
