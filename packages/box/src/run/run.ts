/**
 * `box run` in the foreground: mkroot -> ovl-mount -> ns-exec, in one
 * process (each extra Node process would cost ~20 ms), with the same
 * configs the separate tools take, so `--explain` stays exact.
 */
import { statSync } from "node:fs";
import { ExitError } from "@box/cli";
import { NoSuchImageError, Store } from "@box/mkroot";
import { nsExec, type NsExecOptions } from "@box/ns-exec";
import { mountOverlay } from "@box/ovl-mount";
import type { BoxPaths } from "../paths.js";
import type { RunFlags } from "./flags.js";
import { buildSpec } from "./spec.js";
import { explain } from "./explain.js";
import { newContainerId, createContainerDirs, removeContainerDirs, saveRecord, type ContainerRecord } from "../container/state.js";
import { recordPid } from "../container/process.js";
import { reserveName, reserveGeneratedName, releaseName, validateName } from "../container/names.js";

const now = () => new Date().toISOString();

function record(id: string, name: string, f: RunFlags, imageId: string, o: NsExecOptions): ContainerRecord {
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
      Binds: f.volumes,
      Tmpfs: Object.fromEntries(o.tmpfs.map((t) => [t.target, t.options])),
      Init: f.init,
    },
    State: { Status: "created", Running: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: "", FinishedAt: "", OOMKilled: false },
  };
}

/** Checks that need the host, done before anything is created. */
function preflight(o: NsExecOptions): void {
  for (const b of o.binds) {
    try {
      statSync(b.source);
    } catch {
      throw new ExitError(`invalid volume: bind source path does not exist: ${b.source}`, 125);
    }
  }
}

export async function runContainer(paths: BoxPaths, f: RunFlags): Promise<number> {
  if (f.detach) throw new ExitError("box run -d: detached containers are not supported yet", 125);
  if (f.name !== undefined) validateName(f.name);
  const store = new Store(paths.root);
  let image;
  try {
    image = await store.get(f.image);
  } catch (e) {
    if (!(e instanceof NoSuchImageError)) throw e;
    throw new ExitError(`Unable to find image '${f.image.includes(":") || f.image.includes("@") ? f.image : f.image + ":latest"}' locally`, 125);
  }
  const id = newContainerId();
  const dirsPreview = { rootfs: `${paths.root}/containers/${id}/rootfs` };
  const spec = buildSpec({ flags: f, image: image.config, id, rootfs: dirsPreview.rootfs });
  if (f.explain) {
    process.stdout.write(explain(paths, id, f.image, spec));
    return 0;
  }
  preflight(spec);

  // From here on every step is undone if a later one fails.
  const name = f.name !== undefined ? (reserveName(paths, f.name, id), f.name) : reserveGeneratedName(paths, id);
  let dirs;
  try {
    dirs = createContainerDirs(paths, id);
  } catch (e) {
    releaseName(paths, name);
    throw e;
  }
  const rec = record(id, name, f, image.id, spec);
  let code: number;
  try {
    saveRecord(paths, rec);
    code = await nsExec(spec, {
      mountRoot: () => mountOverlay({ lower: image.layers, upper: dirs.upper, work: dirs.work, target: dirs.rootfs }),
      started: (pid) => {
        recordPid(paths, id, pid);
        rec.State = { ...rec.State, Status: "running", Running: true, Pid: pid, StartedAt: now() };
        saveRecord(paths, rec);
      },
    });
  } catch (e) {
    removeContainerDirs(paths, id);
    releaseName(paths, name);
    if (e instanceof ExitError && (e.exitCode === 126 || e.exitCode === 127)) {
      throw e;
    }
    throw new ExitError(e instanceof Error ? e.message : String(e), 125, { cause: e instanceof Error ? e.cause : undefined });
  }
  if (f.rm) {
    removeContainerDirs(paths, id);
    releaseName(paths, name);
  } else {
    rec.State = { ...rec.State, Status: "exited", Running: false, Pid: 0, ExitCode: code, FinishedAt: now() };
    saveRecord(paths, rec);
  }
  return code;
}
