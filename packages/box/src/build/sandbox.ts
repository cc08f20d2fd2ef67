/**
 * A RUN step's process: the same isolation as `box run` (new PID, mount, IPC and UTS
 * namespaces, no network unless --network host, a cgroup with Docker's device list, Docker's
 * capabilities, masked paths and seccomp profile), on an overlay of the stage's layers and a
 * fresh upper dir.
 *
 * ns-exec's nsExec is the last thing a process does (it leaves namespace state behind on the
 * main thread), so each step runs in a child: `box __build-run SPEC`. The child mounts the
 * overlay in its own new mount namespace (the mountRoot hook), so the mount dies with the step
 * whatever happens: nothing to unmount on the host.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { ExitError } from "@box/cli";
import { defaults, nsExec, type BindMount, type IdMap, type NsExecOptions, type TmpfsMount } from "@box/ns-exec";
import { rootMount, type RootMount } from "../run/rootmount.js";
import { DEFAULT_PROFILE_PATH } from "@box/seccomp";
import { DOCKER_DEFAULT_CAPS, capMask } from "../run/caps.js";
import { MASKED_PATHS, READONLY_PATHS } from "../run/spec.js";
import { cgroupPathOf, makeCgroup, removeCgroupQuietly } from "../container/cgroup.js";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface SandboxSpec {
  options: Omit<NsExecOptions, "caps"> & { caps?: string };
  /** The step's cgroup (cgset path), as a container's: Docker's device list, gone with the step. */
  cgroup: string;
  lower: string[];
  upper: string;
  work: string;
  target: string;
}

export interface RunStepInput {
  command: string[];
  env: string[];
  user?: string;
  cwd?: string;
  network: "none" | "host";
  lower: string[];
  upper: string;
  work: string;
  target: string;
  /** RUN --mount: host paths bound in, and tmpfs mounts. */
  binds?: BindMount[];
  tmpfs?: TmpfsMount[];
  /** BOX_USERNS_REMAP, resolved: the step runs in a user namespace with these maps. */
  remap?: { uidMap: IdMap[]; gidMap: IdMap[] };
}

/** The ns-exec config of a RUN step. Pure. */
export function stepOptions(s: RunStepInput): NsExecOptions {
  const o = defaults();
  const host = s.network === "host";
  o.unshare = { pid: true, mount: true, ipc: true, uts: !host, net: !host, cgroup: false };
  o.root = s.target;
  if (s.remap) {
    o.unshare.user = true;
    o.uidMap = s.remap.uidMap;
    o.gidMap = s.remap.gidMap;
  }
  if (!host) o.hostname = "buildkitsandbox";
  else {
    try {
      o.resolvConf = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      // ns-exec writes its default
    }
  }
  o.clearEnv = true;
  o.env = s.env.some((e) => e.startsWith("PATH=")) ? [...s.env] : [DEFAULT_PATH, ...s.env];
  if (s.user) {
    const [u, g] = s.user.split(":");
    o.setuid = u || undefined;
    o.setgid = g || undefined;
  }
  o.cwd = s.cwd || "/";
  o.caps = capMask(DOCKER_DEFAULT_CAPS);
  o.maskedPaths = MASKED_PATHS;
  o.readonlyPaths = READONLY_PATHS;
  o.seccomp = DEFAULT_PROFILE_PATH;
  o.binds = [...(s.binds ?? [])];
  o.tmpfs = [...(s.tmpfs ?? [])];
  o.stdin = false;
  o.dieWithParent = true;
  o.command = s.command;
  return o;
}

export interface RunningStep {
  /** Resolves to the command's exit status (125/126/127 as `box run` for failures to start). */
  done: Promise<number>;
  kill(): void;
}

/** Start a RUN step as `box __build-run SPEC`; `onOutput` gets its stdout and stderr as they come. */
export function startStep(specPath: string, s: RunStepInput, onOutput: (chunk: Buffer, stream: 1 | 2) => void): RunningStep {
  const o = stepOptions(s);
  const cgroup = cgroupPathOf(`build-${randomBytes(12).toString("hex")}`);
  const spec: SandboxSpec = { options: { ...o, caps: o.caps?.toString(16) }, cgroup, lower: s.lower, upper: s.upper, work: s.work, target: s.target };
  writeFileSync(specPath, JSON.stringify(spec), { mode: 0o600 });
  const child = spawn(process.execPath, [process.argv[1] as string, "__build-run", specPath], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  child.stdout.on("data", (c: Buffer) => onOutput(c, 1));
  child.stderr.on("data", (c: Buffer) => onOutput(c, 2));
  const done = new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`spawn ${process.argv[1]} __build-run`, { cause: e })));
    child.on("close", (code, signal) => {
      // The step removes its cgroup; a step killed (a failed build, Ctrl-C) leaves it to us.
      removeCgroupQuietly(cgroup);
      resolve(code ?? 128 + (signal ? osSignal(signal) : 0));
    });
  });
  return { done, kill: () => child.kill("SIGKILL") };
}

function osSignal(name: NodeJS.Signals): number {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };
  return map[name] ?? 0;
}

/** The child side: `box __build-run SPEC`. */
export async function buildRunStage(specPath: string): Promise<number> {
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as SandboxSpec;
  const options: NsExecOptions = { ...spec.options, caps: spec.options.caps !== undefined ? BigInt(`0x${spec.options.caps}`) : undefined };
  let root: RootMount | undefined;
  try {
    // Idmapped layers and an upper owned by the remapped root, as box run's (or a plain overlay).
    root = await rootMount(options, spec.lower, { upper: spec.upper, work: spec.work, rootfs: spec.target });
    const cg = makeCgroup(spec.cgroup, {});
    return await nsExec(options, {
      // Into its cgroup before the command runs, as box run's containers.
      beforeStart: (pid) => cg.attachInBackground(pid),
      mountRoot: root.mountRoot,
    });
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(e instanceof Error ? e.message : String(e), 125, { cause: e instanceof Error ? e.cause : undefined });
  } finally {
    root?.release();
    removeCgroupQuietly(spec.cgroup);
  }
}
