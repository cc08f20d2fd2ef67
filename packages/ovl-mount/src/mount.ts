import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  AT,
  FSCONFIG,
  FSMOUNT,
  FSOPEN,
  MNT,
  MOUNT_ATTR,
  MOVE_MOUNT,
  MS,
  SysError,
  fsconfig,
  fsmount,
  fsopen,
  mount,
  moveMount,
  mountSetattr,
  openTree,
  OPEN_TREE,
  O,
  umount2,
} from "@box/sys";
import { checkPaths } from "./preflight.js";
import { validate, type OverlaySpec } from "./validate.js";
import { buildData, extraOptions, fits, MOUNT_DATA_MAX } from "./mountdata.js";
import { fsCall } from "./fserr.js";
import { readMountinfo } from "./mountinfo.js";

/**
 * Which kernel interface mounts the overlay. "auto" tries the new mount API
 * with one "lowerdir+" per layer and falls back to mount(2) where the kernel
 * lacks it; the other two force one path (the tests force "legacy").
 */
export type MountApi = "auto" | "new" | "legacy";

export interface MountOptions {
  api?: MountApi;
}

/**
 * overlayfs reports some refusals (upper and work under two mounts, for one)
 * only with pr_err, not on the fs context, so the errno is all the caller
 * gets; say where the reason is.
 */
const DMESG = "; overlayfs logs the reason to the kernel log (dmesg)";

/** The new mount API cannot do this mount; mount(2) can still try. */
class Unsupported extends Error {}

/** One failed step of the new mount API, with what the kernel logged on the fs context. */
class FsContextError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(err: SysError, what: string, log: string[]) {
    // SysError's message is `syscall detail: CODE (text)`; keep its tail.
    const tail = err.message.slice(err.message.lastIndexOf(`: ${err.code} (`));
    super(`${what}${tail}${log.length ? ": " + log.join("; ") : what.endsWith("CREATE") ? DMESG : ""}`);
    this.errno = err.errno;
    this.code = err.code;
  }
}

/**
 * Messages the kernel left on an fs context fd ("e overlay: ..."): read(2)
 * gives one per call until ENODATA. They name the real cause of an EINVAL.
 */
function readLog(fd: number): string[] {
  const out: string[] = [];
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < 32; i++) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch {
      break;
    }
    if (n <= 0) break;
    out.push(buf.toString("utf8", 0, n).trim().replace(/^[ewi] /, ""));
  }
  return out;
}

function closeQuietly(fd: number): void {
  if (fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {
    // Nothing left to undo: the fd number is gone either way.
  }
}

/**
 * Before Linux 6.5 overlayfs had no fs_context of its own. The VFS's legacy
 * one accepts any key, glues them all into one page of mount data, and only
 * FSCONFIG_CMD_CREATE finds "lowerdir+" unknown, or fails once the page is
 * full; neither says "fall back". A key no file system knows tells the two
 * apart: overlayfs' own parser refuses it with EINVAL, the legacy one takes it.
 */
function acceptsAnyKey(fd: number): boolean {
  try {
    fsconfig(fd, FSCONFIG.SET_FLAG, "ovl-mount-probe", null);
    return true;
  } catch (err) {
    if (!(err instanceof SysError && err.code === "EINVAL")) throw err;
    readLog(fd); // "Unknown parameter": expected, and not to be shown with a later error
    return false;
  }
}

function mountNew(spec: OverlaySpec, forced: boolean): void {
  const mfd = detachedMount(spec, forced);
  try {
    moveMount(mfd, "", AT.FDCWD, spec.target, MOVE_MOUNT.F_EMPTY_PATH);
  } finally {
    closeQuietly(mfd);
  }
}

/** The overlay as a detached mount: an fd of its root, attached nowhere; closing the fd unmounts it. */
function detachedMount(spec: Omit<OverlaySpec, "target">, forced: boolean): number {
  let fd: number;
  try {
    fd = fsopen("overlay", FSOPEN.CLOEXEC);
  } catch (err) {
    // ENOSYS: before Linux 5.2, or a seccomp filter that hides the new API.
    if (!forced && err instanceof SysError && err.code === "ENOSYS") throw new Unsupported(err.message);
    throw err;
  }
  let mfd = -1;
  let layerFds: number[] = [];
  try {
    const step = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        if (err instanceof SysError) throw new FsContextError(err, what, readLog(fd));
        throw err;
      }
    };
    const set = (key: string, value: string): void =>
      step(`fsconfig ${key}=${value}`, () => fsconfig(fd, FSCONFIG.SET_STRING, key, value));

    if (!forced && acceptsAnyKey(fd)) {
      throw new Unsupported("overlayfs has no fs_context of its own (Linux < 6.5)");
    }
    set("source", "overlay");
    if (spec.idmap !== undefined) {
      layerFds = addIdmappedLowers(fd, spec.lower, spec.idmap, readLog);
    } else spec.lower.forEach((dir, i) => {
      // "lowerdir+" (Linux 6.8) adds one layer per call, top first, so the
      // list is never one string and one page of mount data is no limit.
      // Older kernels answer the unknown key with EINVAL.
      if (i === 0 && !forced) {
        try {
          fsconfig(fd, FSCONFIG.SET_STRING, "lowerdir+", dir);
        } catch (err) {
          const log = readLog(fd);
          if (err instanceof SysError && err.code === "EINVAL" && !log.some((l) => !/unknown parameter/i.test(l))) {
            throw new Unsupported(err.message);
          }
          if (err instanceof SysError) throw new FsContextError(err, `fsconfig lowerdir+=${dir}`, log);
          throw err;
        }
        return;
      }
      set("lowerdir+", dir);
    });
    if (spec.upper !== undefined && spec.work !== undefined) {
      set("upperdir", spec.upper);
      set("workdir", spec.work);
    }
    for (const [k, v] of extraOptions(spec.upper !== undefined)) set(k, v);
    step("fsconfig FSCONFIG_CMD_CREATE", () => fsconfig(fd, FSCONFIG.CMD_CREATE, null, null));

    const attrs = spec.readonly || spec.upper === undefined ? MOUNT_ATTR.RDONLY : 0;
    step("fsmount", () => {
      mfd = fsmount(fd, FSMOUNT.CLOEXEC, attrs);
    });
    // Until move_mount the new mount is detached: closing mfd on failure
    // unmounts it, so nothing is left behind.
    const out = mfd;
    mfd = -1;
    return out;
  } finally {
    closeQuietly(mfd);
    closeQuietly(fd);
    layerFds.forEach(closeQuietly);
  }
}

/** An open user namespace file, for MOUNT_ATTR_IDMAP. */
function openUserns(file: string): number {
  const fd = fsCall(() => fs.openSync(file, O.RDONLY | O.CLOEXEC));
  return fd;
}

/**
 * A detached, read-only clone of `dir` whose ids are shifted by the maps
 * of the user namespace `userns` (an idmapped mount: Linux 5.12+, and a
 * file system that supports them; ext4, xfs, btrfs and tmpfs do).
 */
function idmappedClone(dir: string, userns: number): number {
  const fd = openTree(AT.FDCWD, dir, OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC);
  try {
    mountSetattr(fd, "", AT.EMPTY_PATH, { set: MOUNT_ATTR.IDMAP | MOUNT_ATTR.RDONLY, usernsFd: userns }, dir);
    return fd;
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
}

/**
 * Each lower layer as an idmapped mount, handed to overlayfs by fd
 * (FSCONFIG_SET_FD "lowerdir+": Linux 6.13, and 6.15 for the O_PATH fds
 * open_tree gives). Nothing is attached anywhere. The clones must stay open
 * until FSCONFIG_CMD_CREATE, which makes overlayfs' own private copies:
 * closing the last fd of a detached tree unmounts it. Returns those fds.
 */
function addIdmappedLowers(fd: number, lower: string[], idmap: string, log: (fd: number) => string[]): number[] {
  const userns = openUserns(idmap);
  const fds: number[] = [];
  try {
    for (const dir of lower) {
      const lfd = idmappedClone(dir, userns);
      fds.push(lfd);
      try {
        fsconfig(fd, FSCONFIG.SET_FD, "lowerdir+", null, lfd);
      } catch (err) {
        const msgs = log(fd);
        if (err instanceof SysError && (err.code === "EINVAL" || err.code === "EBADF")) {
          throw new Unsupported(`fsconfig lowerdir+ (fd of ${dir}): ${err.code}${msgs.length ? ": " + msgs.join("; ") : ""}`);
        }
        if (err instanceof SysError) throw new FsContextError(err, `fsconfig lowerdir+ (fd of ${dir})`, msgs);
        throw err;
      }
    }
    return fds;
  } catch (err) {
    fds.forEach(closeQuietly);
    throw err;
  } finally {
    closeQuietly(userns);
  }
}

/**
 * Idmapped layers for kernels that take overlayfs layers only by path
 * (Linux 5.19 to 6.14): each clone is attached under a private directory,
 * the overlay is mounted from those paths (mount(2), which any of those
 * kernels has), and the clones are detached again at once: overlayfs holds
 * its own. The attached clones exist for the length of this call, in the
 * caller's mount namespace (box's is the container's own).
 */
function mountIdmappedAttached(spec: OverlaySpec): void {
  const userns = openUserns(spec.idmap!);
  const dir = fsCall(() => fs.mkdtempSync(path.join(os.tmpdir(), "ovl-idmap-")));
  const attached: string[] = [];
  try {
    spec.lower.forEach((lower, i) => {
      const at = path.join(dir, i.toString(36));
      fsCall(() => fs.mkdirSync(at));
      const fd = idmappedClone(lower, userns);
      try {
        moveMount(fd, "", AT.FDCWD, at, MOVE_MOUNT.F_EMPTY_PATH);
        attached.push(at);
      } finally {
        closeQuietly(fd);
      }
    });
    const { idmap: _, ...plain } = spec;
    mountLegacy({ ...plain, lower: attached });
  } finally {
    for (const at of attached) {
      try {
        umount2(at, MNT.DETACH);
      } catch {
        // nothing more to undo for this one
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    closeQuietly(userns);
  }
}

/** One idmapped layer, read-only, at target: the single-layer case of an idmapped mount. */
function bindIdmapped(lower: string, idmap: string, target: string): void {
  const userns = openUserns(idmap);
  try {
    const fd = idmappedClone(lower, userns);
    try {
      moveMount(fd, "", AT.FDCWD, target, MOVE_MOUNT.F_EMPTY_PATH);
    } finally {
      closeQuietly(fd);
    }
  } finally {
    closeQuietly(userns);
  }
}

/**
 * The overlay `spec` describes (its target unused) as a detached mount
 * (new mount API only): an O_PATH-like fd of the merged root that no path
 * names, in no mount table, gone when the fd is closed or the process dies.
 * For a process that only needs to read or write through fds.
 */
export function openOverlay(spec: Omit<OverlaySpec, "target">): number {
  validate({ ...spec, target: "/" });
  try {
    checkPaths({ ...spec, target: "/" });
    return detachedMount(spec, true);
  } catch (cause) {
    throw new Error(`mount overlay of ${spec.upper ?? spec.lower[0]}`, { cause });
  }
}

function mountLegacy(spec: OverlaySpec): void {
  try {
    mountLegacyData(spec);
  } catch (err) {
    if (err instanceof SysError && err.syscall === "mount" && err.code === "EINVAL") {
      throw new Error(err.message + DMESG);
    }
    throw err;
  }
}

function mountLegacyData(spec: OverlaySpec): void {
  const flags = spec.readonly || spec.upper === undefined ? MS.RDONLY : 0;
  const target = spec.target;
  const full = buildData(spec);
  if (fits(full)) {
    mount({ source: "overlay", target, fstype: "overlay", flags, data: full });
    return;
  }
  // Too long for one page. As Docker's overlay2 does with its l/ directory:
  // short symlinks to the layers, named relative to the cwd, which mount(2)
  // resolves the layer paths against. overlayfs holds the layers it found,
  // not the names, so the links can go once the mount is made.
  const short = buildData({ ...spec, lower: spec.lower.map((_, i) => i.toString(36)) });
  if (!fits(short)) {
    throw new Error(
      `mount data is ${Buffer.byteLength(short)} bytes even with short layer names; mount(2) takes at most ${MOUNT_DATA_MAX - 1}`,
    );
  }
  // The cwd is per process. Everything here is synchronous on the main
  // thread, so no JavaScript runs while it is changed; box passes absolute
  // paths everywhere, so libuv's pool threads are not affected either.
  const cwd = fsCall(() => process.cwd());
  const links = fsCall(() => fs.mkdtempSync(path.join(os.tmpdir(), "ovl-mount-")));
  try {
    spec.lower.forEach((dir, i) => fsCall(() => fs.symlinkSync(dir, path.join(links, i.toString(36)))));
    fsCall(() => process.chdir(links));
    try {
      mount({ source: "overlay", target, fstype: "overlay", flags, data: short });
    } finally {
      process.chdir(cwd);
    }
  } finally {
    fs.rmSync(links, { recursive: true, force: true });
  }
}

/**
 * A single lower and no upper: overlayfs needs two layers to stack, and a
 * read-only bind mount gives the same view.
 */
function bindReadonly(lower: string, target: string): void {
  mount({ source: lower, target, flags: MS.BIND });
  try {
    // Read-only needs a second call: MS_RDONLY is ignored on the first bind.
    mount({ target, flags: MS.BIND | MS.REMOUNT | MS.RDONLY });
  } catch (err) {
    umount2(target, MNT.DETACH);
    throw err;
  }
}

/**
 * Mount `spec` at spec.target. Synchronous from start to end: box calls it
 * right after unshare(CLONE_NEWNS), on the main thread. On failure nothing is
 * left mounted and every fd is closed.
 */
export function mountOverlay(spec: OverlaySpec, opts: MountOptions = {}): void {
  validate(spec);
  const api = opts.api ?? "auto";
  try {
    checkPaths(spec);
    const [only] = spec.lower;
    if (spec.upper === undefined && spec.lower.length === 1 && only !== undefined) {
      if (spec.idmap !== undefined) bindIdmapped(only, spec.idmap, spec.target);
      else bindReadonly(only, spec.target);
    } else if (spec.idmap !== undefined) {
      // Layers by fd where the kernel takes them (6.15); attached clones by path before.
      if (api === "legacy") mountIdmappedAttached(spec);
      else {
        try {
          mountNew(spec, true);
        } catch (err) {
          if (!(err instanceof Unsupported)) throw err;
          mountIdmappedAttached(spec);
        }
      }
    } else if (api === "legacy") {
      mountLegacy(spec);
    } else {
      try {
        mountNew(spec, api === "new");
      } catch (err) {
        if (!(err instanceof Unsupported)) throw err;
        mountLegacy(spec);
      }
    }
  } catch (cause) {
    throw new Error(`mount ${spec.target}`, { cause });
  }
}

/** Unmount what mountOverlay mounted at `target`. */
export function umountOverlay(target: string): void {
  try {
    const real = fsCall(() => fs.realpathSync(target));
    // umount2 says only EINVAL for a directory that is not a mount point.
    if (!readMountinfo().some((m) => m.mountPoint === real)) throw new Error("not a mount point");
    umount2(real, MNT.UMOUNT_NOFOLLOW);
  } catch (cause) {
    throw new Error(`umount ${target}`, { cause });
  }
}
