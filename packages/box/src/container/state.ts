/**
 * A container's record on disk: config.json under BOX_ROOT/containers/ID,
 * written atomically (write to a temp file, then rename) so a reader never
 * sees half a file.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BoxPaths } from "../paths.js";
import { containerDir, containerRunDir } from "../paths.js";

export interface ContainerState {
  Status: "created" | "running" | "exited" | "dead";
  Running: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
}

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  ImageName: string;
  Path: string;
  Args: string[];
  Config: {
    Hostname: string;
    User: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    Image: string;
    Tty: boolean;
    OpenStdin: boolean;
  };
  HostConfig: {
    AutoRemove: boolean;
    ReadonlyRootfs: boolean;
    NetworkMode: string;
    Binds: string[];
    Tmpfs: Record<string, string>;
    Init: boolean;
  };
  State: ContainerState;
}

export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}

export function saveRecord(p: BoxPaths, rec: ContainerRecord): void {
  writeJsonAtomic(join(containerDir(p, rec.Id), "config.json"), rec);
}

export function loadRecord(p: BoxPaths, id: string): ContainerRecord {
  return JSON.parse(readFileSync(join(containerDir(p, id), "config.json"), "utf8")) as ContainerRecord;
}

export function listIds(p: BoxPaths): string[] {
  try {
    return readdirSync(join(p.root, "containers")).filter((d) => /^[0-9a-f]{64}$/.test(d));
  } catch {
    return [];
  }
}

/** The directories of a new container: upper and work for the overlay, rootfs for its mount point. */
export function createContainerDirs(p: BoxPaths, id: string): { dir: string; upper: string; work: string; rootfs: string; runDir: string } {
  const dir = containerDir(p, id);
  const runDir = containerRunDir(p, id);
  const d = { dir, upper: join(dir, "upper"), work: join(dir, "work"), rootfs: join(dir, "rootfs"), runDir };
  mkdirSync(dir, { recursive: true, mode: 0o710 });
  mkdirSync(d.upper);
  mkdirSync(d.work);
  mkdirSync(d.rootfs);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  return d;
}

export function removeContainerDirs(p: BoxPaths, id: string): void {
  rmSync(containerDir(p, id), { recursive: true, force: true });
  rmSync(containerRunDir(p, id), { recursive: true, force: true });
}
