import fs from "node:fs";
import { MNT, umount2 } from "@box/sys";
import { mountsUnder } from "../mountinfo.js";

/** Why the root tests cannot run here, or null when they can. */
export function mountSkipReason(): string | null {
  if (process.getuid?.() !== 0) return "needs root to mount";
  const fsTypes = fs.readFileSync("/proc/filesystems", "utf8");
  if (!/\toverlay\n/.test(fsTypes) && !fs.existsSync("/sys/module/overlay")) return "kernel has no overlayfs";
  return null;
}

/** A fresh directory under /tmp for one test. */
export function tempDir(tag: string): string {
  return fs.mkdtempSync(`/tmp/ovl-mount-test-${tag}-`);
}

/**
 * Unmount everything under `dir` (innermost first, lazily so a busy mount
 * cannot keep the rest alive), remove the tree, and return what was still
 * mounted before the cleanup: a test asserts that list is empty.
 */
export function cleanup(dir: string): string[] {
  const left = mountsUnder(dir).map((m) => m.mountPoint);
  for (const m of mountsUnder(dir).reverse()) {
    try {
      umount2(m.mountPoint, MNT.DETACH);
    } catch {
      // Already gone with its parent.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return left;
}

/** Open fds of this process, to show that a failed mount closed its own. */
export function openFds(): string[] {
  return fs.readdirSync("/proc/self/fd").sort();
}
