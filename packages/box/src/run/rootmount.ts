/**
 * The container's root: its overlay, mounted by ns-exec's mountRoot hook in
 * the container's mount namespace. For a remapped container the image's
 * layers are mounted idmapped (root's files in a layer show as the host id
 * the container's root maps to), which needs a user namespace with the maps
 * before the container's own exists.
 */
import { chownSync, closeSync } from "node:fs";
import { hostId, openMappedUserns, type NsExecOptions } from "@box/ns-exec";
import { mountOverlay } from "@box/ovl-mount";

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
