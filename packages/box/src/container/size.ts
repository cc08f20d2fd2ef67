/** What removing a directory gives back. */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Bytes under dir, each inode once: what removing it gives back. */
export function treeSize(dir: string, seen = new Set<number>()): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st || seen.has(st.ino)) continue;
    seen.add(st.ino);
    total += st.isDirectory() ? treeSize(p, seen) : st.size;
  }
  return total;
}
