/**
 * Named network namespaces: a file bind-mounted from /proc/thread-self/ns/net
 * of the main thread after it unshared CLONE_NEWNET, as `ip netns add` does.
 *
 * Only the main thread changes namespace (Node's pool threads stay where they
 * are), and everything between the unshare and the setns back is synchronous
 * on that thread: the bind mount, `lo` up, and the spawnSync of ip(8), whose
 * fork copies the calling thread and so starts inside the new namespace.
 */
import { closeSync, openSync, readFileSync, unlinkSync } from "node:fs";
import { CLONE, MNT, MS, O, SysError, linkUp, mount, setns, umount2, unshare } from "@box/sys";

/**
 * Make a netns file at `path` (which must not exist) and run `setup` inside
 * the new namespace with an fd of the caller's namespace. On any failure
 * nothing is left: the mount is taken down and the file removed.
 */
export function makeNetns(path: string, setup: (hostNsFd: number) => void): void {
  const host = openSync("/proc/thread-self/ns/net", O.RDONLY | O.CLOEXEC);
  let created = false;
  let mounted = false;
  try {
    try {
      closeSync(openSync(path, O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o444));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new Error(`${path} already exists`);
      throw err;
    }
    created = true;
    unshare(CLONE.NEWNET);
    try {
      mount({ source: "/proc/thread-self/ns/net", target: path, flags: MS.BIND });
      mounted = true;
      linkUp("lo");
      setup(host);
    } finally {
      // Back to the caller's namespace whatever happened; a failure here would
      // leave this process in the wrong netns, so it is not caught.
      setns(host, CLONE.NEWNET, "/proc/thread-self/ns/net (back to the host netns)");
    }
  } catch (err) {
    if (mounted) umount2(path, MNT.DETACH);
    if (created) unlinkSync(path);
    throw err;
  } finally {
    closeSync(host);
  }
}

/** Run `f` inside the netns at `path` (with an fd of the caller's namespace), then return to the caller's. */
export function inNetns<T>(path: string, f: (hostNsFd: number) => T): T {
  const host = openSync("/proc/thread-self/ns/net", O.RDONLY | O.CLOEXEC);
  try {
    const fd = openSync(path, O.RDONLY | O.CLOEXEC);
    try {
      setns(fd, CLONE.NEWNET, path);
    } finally {
      closeSync(fd);
    }
    try {
      return f(host);
    } finally {
      setns(host, CLONE.NEWNET, "/proc/thread-self/ns/net (back to the host netns)");
    }
  } finally {
    closeSync(host);
  }
}

/** Unmount and remove a netns file; one already gone (or never mounted) is no error. */
export function removeNetns(path: string): void {
  try {
    umount2(path, MNT.DETACH);
  } catch (err) {
    // EINVAL: not a mount point (a create killed before its mount); ENOENT: gone.
    if (!(err instanceof SysError) || !["EINVAL", "ENOENT"].includes(err.code)) throw err;
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`unlink ${path}`, { cause: err });
  }
}

/** Mount points under `dir` (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const target = line.split(" ")[4];
    if (target === undefined) continue;
    const t = target.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (t.startsWith(`${dir}/`)) out.add(t);
  }
  return out;
}
