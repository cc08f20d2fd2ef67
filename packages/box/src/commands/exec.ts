/**
 * box exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND...: run a
 * process in a running container. ns-exec joins the container's namespaces
 * (ns-init joins its mount namespace, and with it its root and masked paths)
 * and applies the container's hardening: capabilities, no_new_privs, rlimits.
 * The process is not a child of the container's PID 1: its parent, seen from
 * inside, is 0. With -d, ns-init forks the command off inside the
 * container's PID namespace and stays outside as its reaper (holding the
 * terminal's master with -t), so it outlives box exec, leaves no zombie, and
 * goes down with the container.
 */
import { parseArgs, flag, list, str, UsageError, ExitError } from "@box/cli";
import { defaults, nsExec, resolveIdentity, RootDir, type NsExecOptions } from "@box/ns-exec";
import type { BoxPaths } from "../paths.js";
import { getContainer } from "../container/ops.js";
import { loadSpec } from "../container/state.js";
import { readEnvFile } from "../run/flags.js";
import { findCgroup } from "../container/cgroup.js";
import { EXEC_HELP } from "../help.js";

const SPEC = {
  boolean: ["interactive", "tty", "detach", "privileged", "help"],
  string: ["workdir", "user", "detach-keys"],
  multi: ["env", "env-file"],
  alias: { i: "interactive", t: "tty", d: "detach", e: "env", w: "workdir", u: "user" },
  stopEarly: true,
};

/** USER[:GROUP] resolved in the container's own /etc/passwd and /etc/group. */
function identityIn(pid: number, user: string | undefined, group: string | undefined) {
  const r = new RootDir(`/proc/${pid}/root`);
  try {
    return resolveIdentity(user, group, r.readFile("/etc/passwd"), r.readFile("/etc/group"));
  } finally {
    r.close();
  }
}

export async function execCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, SPEC);
  if (flag(a, "help")) {
    process.stdout.write(EXEC_HELP);
    return 0;
  }
  const [ref, ...cmd] = a.rest;
  if (!ref || cmd.length === 0) throw new UsageError('"box exec" requires at least 2 arguments');
  const detach = flag(a, "detach");
  // Docker keeps the terminal of an exec -dt in its shim; box has no process to hold one.
  if (flag(a, "privileged")) throw new UsageError("box exec --privileged is not supported yet");
  for (const e of list(a, "env")) if (e.startsWith("=") || e === "") throw new ExitError(`invalid environment variable: ${e}`, 125);
  const wd = str(a, "workdir");
  if (wd !== undefined && !wd.startsWith("/")) throw new ExitError(`the working directory '${wd}' is invalid, it needs to be an absolute path`, 125);

  const c = getContainer(p, ref);
  if (!c.state.Running || c.state.Settling || !c.state.Pid) throw new ExitError(`container ${c.id} is not running`, 1);
  const pid = c.state.Pid;
  const { options: spec } = loadSpec(p, c.id);

  const user = str(a, "user") ?? [spec.setuid, spec.setgid].filter((x) => x !== undefined).join(":");
  const [u, g] = user ? user.split(":") : [undefined, undefined];
  let id;
  try {
    id = identityIn(pid, u || undefined, g || undefined);
  } catch (e) {
    throw new ExitError((e as Error).message, 126);
  }

  const o: NsExecOptions = defaults();
  // pid_for_children: in a remapped container the recorded pid is ns-init's
  // relay, outside the PID namespace it made; elsewhere it names the same one.
  o.join = (["ipc", "uts", "net", "pid", "mount"] as const).map((kind) => ({ kind, path: `/proc/${pid}/ns/${kind === "mount" ? "mnt" : kind === "pid" ? "pid_for_children" : kind}` }));
  // The user namespace first: ns-init joins it, then the mount namespace it owns.
  if (spec.unshare.user) o.join.unshift({ kind: "user", path: `/proc/${pid}/ns/user` });
  o.clearEnv = true;
  const env = [...spec.env, ...list(a, "env-file").flatMap(readEnvFile), ...list(a, "env")];
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${id.home}`);
  if (flag(a, "tty") && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  o.env = env;
  o.cwd = wd ?? spec.cwd;
  o.setuid = String(id.uid);
  o.setgid = String(id.gid);
  // The user's groups in the container's /etc/group, as docker exec gives them.
  o.groups = id.groups;
  o.caps = spec.caps;
  o.noNewPrivileges = spec.noNewPrivileges;
  o.rlimits = spec.rlimits;
  o.seccomp = spec.seccomp;
  o.tty = flag(a, "tty");
  // The terminal comes from the container's own devpts: `tty` inside says /dev/pts/N, as Docker.
  if (o.tty) o.ptyRoot = `/proc/${pid}/root`;
  // -d: nothing is attached (Docker accepts -di and attaches no stdin either).
  o.stdin = flag(a, "interactive") && !detach;
  o.dieWithParent = !detach;
  o.background = detach;
  o.command = cmd;
  try {
    // Into the container's cgroup before the command runs, so its limits and stats cover it.
    const cg = findCgroup(c.rec.CgroupPath);
    return await nsExec(o, cg ? { beforeStart: (pid) => cg.attach(pid) } : {});
  } catch (e) {
    if (e instanceof ExitError && (e.exitCode === 126 || e.exitCode === 127)) throw e;
    throw new ExitError(e instanceof Error ? e.message : String(e), 126, { cause: e instanceof Error ? e.cause : undefined });
  }
}
