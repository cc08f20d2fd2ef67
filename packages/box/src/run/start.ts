/**
 * Detached containers. `box run -d` and `box start` spawn box-monitor (C, one
 * small process per container) in a session of its own; the monitor runs the
 * start stage below (`box __start ID`, Node) with the container's stdio, and
 * keeps the container once that stage has exec'd it and exited.
 */
import { removeAnonymousVolumes } from "../container/volumes.js";
import { spawn, type StdioOptions } from "node:child_process";
import type { Duplex } from "node:stream";
import { readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ExitError, describeChain } from "@box/cli";
import { nsStart } from "@box/ns-exec";
import { rootMount } from "./rootmount.js";
import type { BoxPaths } from "../paths.js";
import { containerDir, containerRunDir } from "../paths.js";
import { loadRecord, loadSpec, removeContainerDirs, type ContainerRecord } from "../container/state.js";
import { lookupName, releaseName } from "../container/names.js";
import { parseLogOpts } from "./policy.js";
import { dropEndpoint, endpointOwner, makeEndpoint } from "./endpoint.js";
import { cgroupPathOf, findCgroup, makeCgroup, removeCgroupQuietly } from "../container/cgroup.js";

/** In the run dir once the container's cgroup saw an OOM kill; a start removes it. */
export const OOM_MARKER = "oom-killed";
/** In the run dir: the pid of the monitor whose start made the cgroup; only its cleanup removes it. */
const CGROUP_OWNER = "cgroup-owner";

// box-monitor is built into dist/, beside bin.js and the bundled box.cjs; this
// module is dist/run/start.js, or part of dist/box.cjs when bundled.
const HERE = fileURLToPath(new URL(".", import.meta.url)).replace(/\/$/, "");
export const MONITOR = join(HERE.endsWith("/run") ? dirname(HERE) : HERE, "box-monitor");
// The start stage is this very program again, whichever entry started it.
const BOX_JS = process.argv[1]!;

export function logPath(p: BoxPaths, id: string): string {
  return join(containerDir(p, id), `${id}-json.log`);
}

export interface StartOptions {
  /**
   * `box start -a`: called at once with our end of a socketpair that the
   * monitor registers as an attach client (-A) before the container's
   * command runs, so that no output is lost. It speaks attach.sock's protocol.
   */
  attach?: (sock: Duplex) => void;
}

/**
 * Start the monitor for a created or exited container and wait until the
 * container runs (resolves to its pid) or could not start (throws with
 * Docker's exit code: 126, 127, else 125).
 */
export async function startDetached(p: BoxPaths, rec: ContainerRecord, opts: StartOptions = {}): Promise<number> {
  const id = rec.Id;
  const runDir = containerRunDir(p, id);
  rmSync(join(runDir, "stop"), { force: true });
  const log = parseLogOpts(rec.HostConfig.LogConfig?.Type ?? "json-file", Object.entries(rec.HostConfig.LogConfig?.Config ?? {}).map(([k, v]) => `${k}=${v}`));
  const policy = rec.HostConfig.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 };
  const args = ["-i", id, "-d", runDir, "-l", logPath(p, id), "-S", "3", "-s", String(log.maxSize), "-n", String(log.maxFile), "-p", policy.Name, "-m", String(policy.MaximumRetryCount)];
  if (rec.Config.Tty) args.push("-t");
  if (rec.Config.OpenStdin) args.push("-I");
  if (rec.HostConfig.AutoRemove) args.push("-a");
  // Every container has a cgroup to give back, and a bridge-mode one an endpoint too.
  args.push("-c");
  // Node makes a "pipe" as a socketpair: both ways, and a half-close is shutdown(SHUT_WR).
  if (opts.attach) args.push("-A", "4");
  args.push("--", process.execPath, BOX_JS);
  const stdio: StdioOptions = ["ignore", "ignore", "ignore", "pipe"];
  if (opts.attach) stdio.push("pipe");
  const child = spawn(MONITOR, args, { detached: true, stdio, env: process.env });
  const sock = opts.attach ? (child.stdio[4] as Duplex) : undefined;
  if (sock) opts.attach!(sock);
  const exited = new Promise<void>((r) => {
    child.on("exit", () => r());
    child.on("error", () => r());
  });
  let spawnError: Error | undefined;
  child.on("error", (e) => (spawnError = e));
  const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  const line = await new Promise<string>((resolve) => {
    let buf = "";
    pipe.setEncoding("utf8");
    pipe.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
    pipe.on("error", () => resolve(buf));
    pipe.on("close", () => resolve(buf));
  });
  pipe.destroy();
  if (spawnError) {
    sock?.destroy();
    throw new ExitError(`spawn ${MONITOR}: ${spawnError.message}`, 125);
  }
  const ok = /^OK (\d+)$/.exec(line);
  if (ok) {
    child.unref();
    return Number(ok[1]);
  }
  // The monitor exits right after a failed start; let it finish first.
  sock?.destroy();
  await exited;
  const err = /^E (\d+) (.*)$/.exec(line);
  if (err) {
    const code = Number(err[1]);
    throw new ExitError(err[2]!, code === 126 || code === 127 ? code : 125);
  }
  throw new ExitError(`box-monitor exited without starting the container`, 125);
}

/**
 * `box __start ID`: run by box-monitor with the container's stdio and a
 * status pipe on fd 3. Mounts the overlay in the new mount namespace, starts
 * ns-init, reports, and exits; ns-init then belongs to the monitor.
 */
export async function startStage(p: BoxPaths, id: string): Promise<number> {
  const report = (s: string) => {
    try {
      writeSync(3, s);
    } catch {
      // the monitor is gone: nothing to tell
    }
  };
  let made = false;
  let cgPath: string | undefined;
  try {
    const { options, layers, net } = loadSpec(p, id);
    const rec = loadRecord(p, id);
    const dir = containerDir(p, id);
    if (net?.mode.kind === "bridge") {
      // A fresh endpoint each start, owned by box-monitor (our parent): what
      // an earlier run left (its box killed) goes first.
      dropEndpoint(id);
      await makeEndpoint(id, net, process.ppid);
      made = true;
    }
    rmSync(join(containerRunDir(p, id), OOM_MARKER), { force: true });
    cgPath = rec.CgroupPath ?? cgroupPathOf(id);
    writeFileSync(join(containerRunDir(p, id), CGROUP_OWNER), String(process.ppid));
    const root = await rootMount(options, layers, { upper: join(dir, "upper"), work: join(dir, "work"), rootfs: join(dir, "rootfs") });
    const cg = makeCgroup(cgPath, rec.Limits ?? {});
    const r = await nsStart(options, {
      // ns-init waits on its pipe until this returns: the command never runs outside the cgroup.
      beforeStart: (pid) => cg.attachInBackground(pid),
      mountRoot: root.mountRoot,
    });
    // Synchronously from here to exit: an exit reaped by this process after
    // the report would be lost to the monitor.
    report(r.exitCode !== undefined ? `P ${r.pid}\nX ${r.exitCode}\n` : `P ${r.pid}\n`);
    process.exit(0);
  } catch (e) {
    removeCgroupQuietly(cgPath);
    if (made) {
      try {
        dropEndpoint(id);
      } catch {
        // gc removes it once box-monitor is gone
      }
    }
    const code = e instanceof ExitError && (e.exitCode === 126 || e.exitCode === 127) ? e.exitCode : 125;
    report(`E ${code} ${describeChain(e).replace(/\n/g, " ")}\n`);
    process.exit(1);
  }
}

/**
 * `box __cleanup ID`: what box-monitor becomes once its container is down
 * for good. It gives back the network endpoint (Docker frees the address
 * and the host ports at stop), and for --rm removes the container. Same pid
 * as the monitor: an endpoint that a newer start made has another owner and
 * is left alone.
 */
export function cleanupStage(p: BoxPaths, id: string): number {
  try {
    if (endpointOwner(id) === process.pid) dropEndpoint(id);
  } catch {
    // netns-bridge gc removes it: its owner is gone
  }
  let name: string | undefined;
  let rec: ContainerRecord;
  try {
    rec = loadRecord(p, id);
    name = rec.Name.replace(/^\//, "");
  } catch {
    // removed meanwhile: box rm removes the cgroup itself
    return 0;
  }
  // The cgroup goes when the container stops, as in Docker; what it knew of an OOM kill stays on
  // record. One that a newer start made (box start while this monitor winds down) is left alone.
  const cgPath = rec.CgroupPath ?? cgroupPathOf(id);
  if (cgroupOwner(p, id) === process.pid) {
    try {
      if (findCgroup(cgPath)?.oomKilled()) writeFileSync(join(containerRunDir(p, id), OOM_MARKER), "");
    } catch {
      // the run dir is gone: the container is being removed
    }
    removeCgroupQuietly(cgPath);
  }
  if (!rec.HostConfig.AutoRemove) return 0;
  removeContainerDirs(p, id);
  if (lookupName(p, name) === id) releaseName(p, name);
  removeAnonymousVolumes(p, rec.HostConfig.Binds);
  return 0;
}

function cgroupOwner(p: BoxPaths, id: string): number | undefined {
  try {
    return Number(readFileSync(join(containerRunDir(p, id), CGROUP_OWNER), "utf8"));
  } catch {
    return undefined;
  }
}
