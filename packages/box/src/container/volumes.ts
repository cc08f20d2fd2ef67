/**
 * Named and anonymous volumes, laid out as Docker's local driver keeps them:
 * $BOX_ROOT/volumes/NAME/_data (what containers mount) beside
 * NAME/volume.json. A volume appears by mkdir of NAME, so two runs naming a
 * new volume at once make it once. A container's record keeps its -v specs
 * by volume name; that is how `volume rm` finds a volume in use.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { listIds, loadRecord } from "./state.js";

/** Docker's label for a volume made for `-v /path` or an image's VOLUME: `--rm` and `rm -v` take these. */
export const ANONYMOUS = "com.docker.volume.anonymous";
/** Docker's local volume names (at least two characters). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeRecord {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string>;
}

const volumesDir = (p: BoxPaths) => join(p.root, "volumes");
export const volumeData = (p: BoxPaths, name: string) => join(volumesDir(p), name, "_data");

export function validateVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name)) throw new ExitError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`, 125);
}

/** Make volume NAME (a new anonymous one without a name); false if it was there already. */
export function createVolume(p: BoxPaths, name?: string): { name: string; created: boolean } {
  const anonymous = name === undefined;
  const n = name ?? randomBytes(32).toString("hex");
  validateVolumeName(n);
  const dir = join(volumesDir(p), n);
  mkdirSync(volumesDir(p), { recursive: true, mode: 0o701 });
  try {
    mkdirSync(dir, { mode: 0o701 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return { name: n, created: false };
    throw e;
  }
  mkdirSync(join(dir, "_data"), { mode: 0o755 });
  const rec: VolumeRecord = { Name: n, Driver: "local", Mountpoint: join(dir, "_data"), CreatedAt: new Date().toISOString(), Labels: anonymous ? { [ANONYMOUS]: "" } : {}, Scope: "local", Options: {} };
  const tmp = join(dir, `.volume.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + "\n");
  renameSync(tmp, join(dir, "volume.json"));
  return { name: n, created: true };
}

export function inspectVolume(p: BoxPaths, name: string): VolumeRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(volumesDir(p), name, "volume.json"), "utf8")) as VolumeRecord;
  } catch {
    return undefined;
  }
}

export function listVolumes(p: BoxPaths): VolumeRecord[] {
  let names: string[];
  try {
    names = readdirSync(volumesDir(p));
  } catch {
    return [];
  }
  return names.filter((n) => VOLUME_NAME.test(n)).flatMap((n) => inspectVolume(p, n) ?? []);
}

/** The volume a -v spec names, or undefined for a bind mount of a host path. */
export function volumeOf(spec: string): string | undefined {
  const source = spec.split(":")[0]!;
  return source.startsWith("/") || !spec.includes(":") ? undefined : source;
}

/** Ids of the containers whose -v specs name `name`. */
export function usersOf(p: BoxPaths, name: string): string[] {
  return listIds(p).filter((id) => {
    try {
      return loadRecord(p, id).HostConfig.Binds.some((b) => volumeOf(b) === name);
    } catch {
      return false;
    }
  });
}

export function removeVolume(p: BoxPaths, name: string, force = false): void {
  if (!inspectVolume(p, name)) {
    if (force) return;
    throw new ExitError(`get ${name}: no such volume`, 1);
  }
  const users = usersOf(p, name);
  if (users.length) throw new ExitError(`remove ${name}: volume is in use - [${users.join(", ")}]`, 1);
  // Out of sight first, so that a run naming it meanwhile makes a new one rather than half of this.
  const away = join(volumesDir(p), `.rm-${name}-${randomBytes(4).toString("hex")}`);
  renameSync(join(volumesDir(p), name), away);
  rmSync(away, { recursive: true, force: true });
}

/** Remove the anonymous volumes among a removed container's -v specs (its --rm, or rm -v). */
export function removeAnonymousVolumes(p: BoxPaths, binds: string[]): void {
  for (const b of binds) {
    const name = volumeOf(b);
    if (name === undefined || !existsSync(join(volumesDir(p), name))) continue;
    if (inspectVolume(p, name)?.Labels[ANONYMOUS] === undefined) continue;
    try {
      removeVolume(p, name);
    } catch {
      // still used by another container (--volumes-from is not supported, so: never)
    }
  }
}
