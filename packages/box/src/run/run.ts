/**
 * `box run` in the foreground: mkroot -> ovl-mount -> ns-exec, in one
 * process (each extra Node process would cost ~20 ms), with the same
 * configs the separate tools take, so `--explain` stays exact.
 */
import { closeSync, openSync, statSync } from "node:fs";
import { ExitError } from "@box/cli";
import { openCgroup } from "@box/cgset";
import { CLONE, O, setns } from "@box/sys";
import { NoSuchImageError, Store, type Image } from "@box/mkroot";
import { ensureImage, pullWithProgress } from "../commands/image-pull.js";
import { hostId, nsExec, type NsExecOptions } from "@box/ns-exec";
import type { BoxPaths } from "../paths.js";
import type { RunFlags } from "./flags.js";
import { buildSpec, netPlan, parseVolume } from "./spec.js";
import { parsePublish } from "./network.js";
import { dropEndpointQuietly, makeEndpoint, netnsDir } from "./endpoint.js";
import { getContainer } from "../container/ops.js";
import { explain } from "./explain.js";
import { newContainerId, createContainerDirs, removeContainerDirs, saveRecord, saveSpec, writeRuntime, procStart, type ContainerRecord, type RuntimeState } from "../container/state.js";
import { recordPid } from "../container/process.js";
import { parseLogOpts, parseRestart } from "./policy.js";
import { logPath, startDetached } from "./start.js";
import { parseResourceFlags, type Limits } from "./resources.js";
import { cgroupPathOf, makeCgroup, removeCgroupQuietly } from "../container/cgroup.js";
import { dockerResources } from "../container/state.js";
import { reserveName, reserveGeneratedName, releaseName, validateName } from "../container/names.js";
import { removeAnonymousVolumes, removeVolume } from "../container/volumes.js";
import { resolveVolumes } from "./volumes.js";
import { remapSetting, resolveRemap } from "./remap.js";
import { rootMount, type RootMount } from "./rootmount.js";

const now = () => new Date().toISOString();

function record(id: string, name: string, f: RunFlags, imageId: string, o: NsExecOptions, stopSignal: string | undefined, limits: Limits): ContainerRecord {
  return {
    Id: id,
    Name: `/${name}`,
    Created: now(),
    Image: imageId,
    ImageName: f.image,
    Path: o.command[0]!,
    Args: o.command.slice(1),
    Config: {
      Hostname: o.hostname ?? "",
      User: f.user ?? "",
      Env: o.env,
      Cmd: f.args.length ? f.args : null,
      Entrypoint: f.entrypoint !== undefined ? [f.entrypoint] : null,
      WorkingDir: o.cwd ?? "",
      Image: f.image,
      Tty: f.tty,
      OpenStdin: f.interactive,
    },
    HostConfig: {
      AutoRemove: f.rm,
      ReadonlyRootfs: f.readOnly,
      NetworkMode: f.network,
      PortBindings: portBindings(f),
      ExtraHosts: f.addHost.length ? f.addHost : null,
      Dns: f.dns,
      Binds: f.volumes,
      Tmpfs: Object.fromEntries(o.tmpfs.map((t) => [t.target, t.options])),
      Init: f.init,
      UsernsMode: f.userns ?? "",
      CgroupParent: f.cgroupParent ?? "",
      RestartPolicy: parseRestart(f.restart),
      LogConfig: { Type: f.logDriver, Config: parseLogOpts(f.logDriver, f.logOpts).config },
      ...dockerResources(limits),
    },
    CgroupPath: cgroupPathOf(id, f.cgroupParent),
    Limits: limits,
    StopSignal: f.stopSignal ?? stopSignal,
    State: { Status: "created", Running: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: "", FinishedAt: "", OOMKilled: false },
  };
}

/** Docker's HostConfig.PortBindings: {"80/tcp": [{HostIp, HostPort}]} as asked for (HostPort "" for any). */
function portBindings(f: RunFlags): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const spec of f.publish) {
    for (const m of parsePublish(spec)) {
      (out[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp === "0.0.0.0" ? "" : m.hostIp, HostPort: m.hostPort ? String(m.hostPort) : "" });
    }
  }
  return out;
}

/** --network container:CTR: the other container's network namespace, which must be running. */
function containerNetPath(paths: BoxPaths, network: string): string | undefined {
  if (!network.startsWith("container:")) return undefined;
  const ref = network.slice("container:".length);
  const c = getContainer(paths, ref);
  if (!c.state.Running || !c.state.Pid) throw new ExitError(`cannot join network of a non running container: ${ref}`, 125);
  return `/proc/${c.state.Pid}/ns/net`;
}

/**
 * Run fn, then put this thread back in the host's network namespace:
 * ns-exec leaves the caller in the container's, and the endpoint is removed
 * from the host's.
 */
async function keepingHostNet<T>(fn: () => Promise<T>): Promise<T> {
  const host = openSync("/proc/thread-self/ns/net", O.RDONLY | O.CLOEXEC);
  try {
    return await fn();
  } finally {
    setns(host, CLONE.NEWNET, "/proc/thread-self/ns/net (back to the host netns)");
    closeSync(host);
  }
}

function oomKilledIn(path: string): boolean {
  try {
    return openCgroup(path).oomKilled();
  } catch {
    return false;
  }
}

/** Checks that need the host, done before anything is created. */
function preflight(o: NsExecOptions, made: string[]): void {
  for (const b of o.binds) {
    if (made.includes(b.source)) continue;
    try {
      statSync(b.source);
    } catch {
      throw new ExitError(`invalid volume: bind source path does not exist: ${b.source}`, 125);
    }
  }
}

/** The image to run, pulled as --pull says (Docker's default: only when it is not here); pull failures are 125. */
async function imageFor(paths: BoxPaths, f: RunFlags): Promise<Image> {
  const store = new Store(paths.root);
  try {
    if (f.pull === "always") return (await pullWithProgress(paths, f.image, process.stderr)).image;
    if (f.pull === "missing") return await ensureImage(paths, f.image, process.stderr);
    return await store.get(f.image);
  } catch (e) {
    if (e instanceof NoSuchImageError) {
      throw new ExitError(`Unable to find image '${f.image.includes(":") || f.image.includes("@") ? f.image : f.image + ":latest"}' locally`, 125);
    }
    if (e instanceof ExitError && e.exitCode !== 125) throw new ExitError(e.message, 125, { cause: e.cause });
    throw e;
  }
}

/**
 * `box run`, and `box create` (`create`): the same container, recorded and
 * not started; `box start` starts it detached, as Docker's does.
 */
export async function runContainer(paths: BoxPaths, f: RunFlags, create = false): Promise<number> {
  // A created container is started by box start, which always detaches.
  if (create) f = { ...f, detach: true };
  if (f.name !== undefined) validateName(f.name);
  const limits = parseResourceFlags(f.resources);
  const policy = parseRestart(f.restart);
  parseLogOpts(f.logDriver, f.logOpts);
  if (f.rm && policy.Name !== "no") throw new ExitError("conflicting options: cannot specify both --restart and --rm", 125);
  if (!f.detach && policy.Name !== "no") throw new ExitError("--restart needs -d (box keeps restartable containers with a detached monitor)", 125);
  const image = await imageFor(paths, f);
  const id = newContainerId();
  const dirsPreview = { rootfs: `${paths.root}/containers/${id}/rootfs` };
  const { plan, warnings } = netPlan(f, image.config, id);
  const containerNet = f.explain ? (f.network.startsWith("container:") ? "/proc/PID/ns/net" : undefined) : containerNetPath(paths, f.network);
  const remapWith = remapSetting(f.userns, f.usernsRemap);
  const remap = remapWith !== undefined ? resolveRemap(remapWith, paths.root) : undefined;
  // The image's VOLUME paths that no -v covers get anonymous volumes, as Docker.
  const imageVolumes = Object.keys((image.config as { config?: { Volumes?: Record<string, object> } }).config?.Volumes ?? {});
  const covered = new Set(f.volumes.map((v) => parseVolume(v).target));
  f = { ...f, volumes: [...f.volumes, ...imageVolumes.filter((t) => !covered.has(t))] };
  const spec = buildSpec({ flags: f, image: image.config, id, rootfs: dirsPreview.rootfs, netnsDir: netnsDir(), containerNet, remap });
  for (const w of warnings) process.stderr.write(`WARNING: ${w}\n`);
  if (f.explain) {
    process.stdout.write(explain(paths, id, f.image, spec, plan, f.resources, f.cgroupParent));
    return 0;
  }
  // Volumes named by -v, made (and filled from the image) now; the record keeps them by name.
  const volumeSpecs = [...f.volumes];
  // For a remapped root a new volume is its own (copied files would keep the image's ids: not copied).
  const owner = remap ? { uid: hostId(remap.uidMap, 0) ?? 0, gid: hostId(remap.gidMap, 0) ?? 0 } : undefined;
  const madeVolumes = resolveVolumes(paths, spec.binds, volumeSpecs, image.layers, { copy: remap === undefined, owner });
  f = { ...f, volumes: volumeSpecs };
  // The endpoint's hosts file is made by netns-bridge, later.
  try {
    preflight(spec, [`${netnsDir()}/${id}.hosts`]);
  } catch (e) {
    for (const v of madeVolumes) removeVolume(paths, v, true);
    throw e;
  }
  if (f.detach) spec.dieWithParent = false;

  // From here on every step is undone if a later one fails.
  // The directory first, locked until the record is saved: a box killed
  // anywhere from here on leaves a container `ps -a` shows and `rm` removes.
  const dirs = createContainerDirs(paths, id);
  let name: string;
  try {
    name = f.name !== undefined ? (reserveName(paths, f.name, id), f.name) : reserveGeneratedName(paths, id);
  } catch (e) {
    removeContainerDirs(paths, id);
    closeSync(dirs.lockFd);
    for (const v of madeVolumes) removeVolume(paths, v, true);
    throw e;
  }
  let locked = true;
  const unlock = () => {
    if (locked) closeSync(dirs.lockFd);
    locked = false;
  };
  const rec = record(id, name, f, image.id, spec, (image.config as { config?: { StopSignal?: string } }).config?.StopSignal, limits);
  const cgPath = rec.CgroupPath!;
  if (f.detach) {
    rec.LogPath = logPath(paths, id);
    try {
      saveSpec(paths, id, spec, image.layers, plan);
      saveRecord(paths, rec);
      unlock();
      if (!create) await startDetached(paths, rec);
    } catch (e) {
      removeCgroupQuietly(cgPath);
      removeContainerDirs(paths, id);
      releaseName(paths, name);
      for (const v of madeVolumes) removeVolume(paths, v, true);
      unlock();
      if (e instanceof ExitError) throw e;
      throw new ExitError(e instanceof Error ? e.message : String(e), 125, { cause: e instanceof Error ? e.cause : undefined });
    }
    process.stdout.write(id + "\n");
    return 0;
  }
  let code: number;
  let root: RootMount | undefined;
  const runtime: RuntimeState = { Status: "created", Running: false, Pid: 0, PidStart: "", ExitCode: 0, Error: "", StartedAt: "", FinishedAt: "", RestartCount: 0, MonitorPid: process.pid, MonitorStart: procStart(process.pid) ?? "" };
  try {
    saveSpec(paths, id, spec, image.layers, plan);
    saveRecord(paths, rec);
    unlock();
    writeRuntime(paths, id, runtime);
    // Before any namespace is touched: this step is async.
    await makeEndpoint(id, plan, process.pid);
    const mounted = (root = await rootMount(spec, image.layers, dirs));
    const cg = makeCgroup(cgPath, limits);
    code = await keepingHostNet(() => nsExec(spec, {
      // ns-init waits on its pipe until this returns: the command never runs outside the cgroup.
      beforeStart: (pid) => cg.attachInBackground(pid),
      mountRoot: mounted.mountRoot,
      started: (pid) => {
        recordPid(paths, id, pid);
        rec.State = { ...rec.State, Status: "running", Running: true, Pid: pid, StartedAt: now() };
        saveRecord(paths, rec);
        Object.assign(runtime, { Status: "running", Running: true, Pid: pid, PidStart: procStart(pid) ?? "", StartedAt: rec.State.StartedAt });
        writeRuntime(paths, id, runtime);
      },
    }));
  } catch (e) {
    root?.release();
    removeCgroupQuietly(cgPath);
    if (plan.mode.kind === "bridge") dropEndpointQuietly(id);
    removeContainerDirs(paths, id);
    releaseName(paths, name);
    for (const v of madeVolumes) removeVolume(paths, v, true);
    unlock();
    if (e instanceof ExitError && (e.exitCode === 126 || e.exitCode === 127)) {
      throw e;
    }
    throw new ExitError(e instanceof Error ? e.message : String(e), 125, { cause: e instanceof Error ? e.cause : undefined });
  }
  root?.release();
  // Docker gives the address, the host ports and the cgroup back when a container stops; a start makes them again.
  if (plan.mode.kind === "bridge") dropEndpointQuietly(id);
  const oomKilled = oomKilledIn(cgPath);
  removeCgroupQuietly(cgPath);
  if (f.rm) {
    removeContainerDirs(paths, id);
    releaseName(paths, name);
    removeAnonymousVolumes(paths, rec.HostConfig.Binds);
  } else {
    rec.State = { ...rec.State, Status: "exited", Running: false, Pid: 0, ExitCode: code, FinishedAt: now(), OOMKilled: oomKilled };
    saveRecord(paths, rec);
    writeRuntime(paths, id, { ...runtime, Status: "exited", Running: false, Pid: 0, PidStart: "", ExitCode: code, FinishedAt: rec.State.FinishedAt });
  }
  return code;
}

