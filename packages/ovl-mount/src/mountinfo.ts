import fs from "node:fs";

export interface MountEntry {
  id: number;
  parent: number;
  mountPoint: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse /proc/self/mountinfo (proc(5)); read synchronously, so it can sit between mount calls. */
export function readMountinfo(file = "/proc/self/mountinfo"): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    // Optional fields end at a lone "-"; fstype, source and super options follow it.
    const sep = f.indexOf("-", 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      mountPoint: unescape(f[4] ?? ""),
      fstype: f[sep + 1] ?? "",
      source: unescape(f[sep + 2] ?? ""),
      superOptions: unescape(f.slice(sep + 3).join(" ")),
    });
  }
  return out;
}

/** Mounts at `dir` or below it, innermost last (the order they were made). */
export function mountsUnder(dir: string, file?: string): MountEntry[] {
  const prefix = dir.endsWith("/") ? dir : dir + "/";
  return readMountinfo(file).filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(prefix));
}
