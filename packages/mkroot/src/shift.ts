/**
 * Shifted copies of layers: for a remapped container on a kernel that cannot
 * give overlayfs idmapped layers (before Linux 5.19), each layer is copied
 * once per id range with every owner moved into the range, as Docker's
 * overlay2 keeps a chowned graph per remapped root:
 *
 *   $BOX_ROOT/layers-shifted/<uid>.<gid>.<maps-hash>/<diffid-hex>/
 *
 * A copy is made under tmp/ and renamed into place, so a reader sees a whole
 * copy or none; `Store.remove` takes a layer's copies with it.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** One line of a uid_map or gid_map: `count` ids from `inside` in the container are `outside` on the host. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

const LAYER_HEX = /^[0-9a-f]{64}$/;
/** What an id outside every range becomes in the container, as the kernel shows it: the overflow id. */
const OVERFLOW = 65534;

export function shiftedDir(root: string, uidMap: IdRange[], gidMap: IdRange[]): string {
  const uid = toHost(uidMap, 0);
  const gid = toHost(gidMap, 0);
  const hash = createHash("sha256").update(JSON.stringify([uidMap, gidMap])).digest("hex").slice(0, 8);
  return join(root, "layers-shifted", `${uid}.${gid}.${hash}`);
}

/** The host id of container id `id` through `map`; an id outside it gets the overflow id's. */
export function toHost(map: IdRange[], id: number): number {
  for (const m of map) if (id >= m.inside && id < m.inside + m.count) return m.outside + id - m.inside;
  for (const m of map) if (OVERFLOW >= m.inside && OVERFLOW < m.inside + m.count) return m.outside + OVERFLOW - m.inside;
  return OVERFLOW;
}

/**
 * The lower directories to give overlayfs for `layers` under these maps: for
 * each store layer ($BOX_ROOT/layers/<hex>) its shifted copy, made now if
 * missing; any other directory as it is.
 */
export function shiftLayers(root: string, layers: string[], uidMap: IdRange[], gidMap: IdRange[]): string[] {
  const base = shiftedDir(root, uidMap, gidMap);
  const storeLayers = join(root, "layers");
  return layers.map((dir) => {
    const name = basename(dir);
    if (dirname(dir) !== storeLayers || !LAYER_HEX.test(name)) return dir;
    const dest = join(base, name);
    if (!existsSync(dest)) copyShifted(root, dir, dest, uidMap, gidMap);
    return dest;
  });
}

function copyShifted(root: string, src: string, dest: string, uidMap: IdRange[], gidMap: IdRange[]): void {
  // Staged where Store.cleanStale finds what a killed copy left (<pid>-...).
  const tmp = join(root, "tmp", `${process.pid}-shift-${basename(src).slice(0, 12)}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dirname(tmp), { recursive: true, mode: 0o700 });
  try {
    // cp -a keeps what a layer is made of: hardlinks, devices (whiteouts), xattrs (opaque dirs), times.
    const cp = spawnSync("cp", ["-a", "--reflink=auto", "--", src, tmp], { encoding: "utf8" });
    if (cp.error) throw new Error(`shift layer ${src}: spawn cp`, { cause: cp.error });
    if (cp.status !== 0) throw new Error(`shift layer ${src}: cp -a: ${cp.stderr.trim() || `exit status ${cp.status}`}`);
    // The owners come from the source: a hardlinked file met twice is chowned twice to the same ids.
    const walk = (rel: string) => {
      const st = lstatSync(join(src, rel));
      const to = join(tmp, rel);
      lchownSync(to, toHost(uidMap, st.uid), toHost(gidMap, st.gid));
      // chown clears setuid and setgid; the layer keeps them.
      if (!st.isSymbolicLink() && st.mode & 0o6000) chmodSync(to, st.mode & 0o7777);
      if (st.isDirectory()) for (const n of readdirSync(join(src, rel))) walk(join(rel, n));
    };
    walk("");
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    try {
      renameSync(tmp, dest);
    } catch (e) {
      // Another run made the same copy first: theirs is as good.
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(dest)) throw new Error(`shift layer ${src}: rename ${dest}: ${code}`, { cause: e });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Remove the shifted copies of the layer `hexId` under every range (the layer is going). */
export function removeShifted(root: string, hexId: string): void {
  const dir = join(root, "layers-shifted");
  let ranges: string[];
  try {
    ranges = readdirSync(dir);
  } catch {
    return;
  }
  for (const r of ranges) {
    rmSync(join(dir, r, hexId), { recursive: true, force: true });
    try {
      // The range's directory goes with its last copy (rmdir: not if another run just added one).
      rmdirSync(join(dir, r));
    } catch {
      // not empty
    }
  }
}
