/**
 * The container's root: its overlay, mounted by ns-exec's mountRoot hook in
 * the container's mount namespace. For a remapped container the image's
 * layers are mounted idmapped (root's files in a layer show as the host id
 * the container's root maps to), which needs a user namespace with the maps
 * before the container's own exists. Before Linux 5.19 overlayfs takes no
 * idmapped layers: there the layers are shifted copies, made once per range
 * (mkroot's shiftLayers), as Docker's overlay2 does.
 */
import { chownSync, closeSync } from "node:fs";
import { release } from "node:os";
import { hostId, openMappedUserns, type NsExecOptions } from "@box/ns-exec";
import { mountOverlay } from "@box/ovl-mount";
import { shiftLayers } from "@box/mkroot";
import { boxPaths } from "../paths.js";

/**
 * Whether remapped layers must be shifted copies: BOX_IDMAP=copy or =mount
 * decides (tests, or a file system that cannot be idmapped); else the kernel:
 * overlayfs takes idmapped layers from 5.19.
 */
export function shiftedCopies(env: NodeJS.ProcessEnv = process.env, kernel = release()): boolean {
  if (env.BOX_IDMAP === "copy") return true;
  if (env.BOX_IDMAP === "mount") return false;
  const [major = 0, minor = 0] = kernel.split(/[.-]/).map(Number);
  return major < 5 || (major === 5 && minor < 19);
}

export interface RootMount {
  mountRoot: () => void;
  /** Give back what the mount needed; safe after mountRoot ran or if it never did. */
  release: () => void;
}

export async function rootMount(o: NsExecOptions, lower: string[], dirs: { upper: string; work: string; rootfs: string }): Promise<RootMount> {
  const spec = { lower, upper: dirs.upper, work: dirs.work, target: dirs.rootfs };
  if (!o.unshare.user) return { mountRoot: () => mountOverlay(spec), release: () => {} };
  const uid = hostId(o.uidMap, 0);
  const gid = hostId(o.gidMap.length ? o.gidMap : o.uidMap, 0);
  if (uid === undefined || gid === undefined) throw new Error("user namespace maps without an id 0: nobody would own the root");
  // The merged root takes the upper directory's owner: the container's root.
  chownSync(dirs.upper, uid, gid);
  if (shiftedCopies()) {
    const gidMap = o.gidMap.length ? o.gidMap : o.uidMap;
    const shifted = shiftLayers(boxPaths().root, lower, o.uidMap, gidMap);
    return { mountRoot: () => mountOverlay({ ...spec, lower: shifted }), release: () => {} };
  }
  const fd = await openMappedUserns(o.uidMap, o.gidMap);
  let open = true;
  return {
    mountRoot: () => mountOverlay({ ...spec, idmap: `/proc/self/fd/${fd}` }),
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
