/**
 * Start a command inside a cgroup with no moment outside it. The child is a
 * tiny /bin/sh that first blocks reading fd 3; we move its pid into the
 * cgroup while it waits, then write "go" and it execs the command (same pid,
 * already inside). If we die first, its read gets EOF and it exits without
 * running anything. (clone3 with CLONE_INTO_CGROUP would do this in one call
 * on v2, but Node cannot clone without exec, and v1 has no such call.)
 */
import { type ChildProcess, spawn, type StdioOptions } from "node:child_process";
import type { Writable } from "node:stream";
import type { Cgroup } from "./backend.js";

// `exec "$@" 3<&-` closes the gate fd for the command; a failed read (EOF) exits 125 before any exec.
const GATE = 'read -r go <&3 && [ "$go" = go ] || exit 125; exec "$@" 3<&-';

export interface SpawnInOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdin, stdout, stderr of the command; default inherit. */
  stdio?: [StdioOptions, StdioOptions, StdioOptions] | ["inherit" | "pipe" | "ignore", "inherit" | "pipe" | "ignore", "inherit" | "pipe" | "ignore"];
}

/** Spawn `file args...` already inside cg. Synchronous up to the release; the ChildProcess reports its exit. */
export function spawnIn(cg: Cgroup, file: string, args: string[], opts: SpawnInOptions = {}): ChildProcess {
  const [i, o, e] = opts.stdio ?? ["inherit", "inherit", "inherit"];
  const child = spawn("/bin/sh", ["-c", GATE, file, file, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: [i, o, e, "pipe"] as StdioOptions,
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT and the like asynchronously; the pid says it now.
    throw new Error(`spawn /bin/sh for ${file}: failed`);
  }
  const gate = child.stdio[3] as Writable;
  gate.on("error", () => {}); // the child may be killed before it reads
  try {
    cg.attach(child.pid);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  gate.end("go\n");
  return child;
}
