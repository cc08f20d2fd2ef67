/**
 * Where the cgroup hierarchies are mounted and where the caller sits in each,
 * from /proc/self/mountinfo and /proc/self/cgroup. Parsing is pure.
 */

/** The v1 controllers cgset manages; any other v1 hierarchy (name=systemd, net_cls, ...) is left alone. */
export const V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"] as const;

const KNOWN_V1 = new Set<string>([...V1_CONTROLLERS, "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"]);

export interface CgroupMount {
  fstype: "cgroup" | "cgroup2";
  mountpoint: string;
  /** The directory of the hierarchy that is mounted there (mountinfo's root field). */
  root: string;
  /** v1 controllers bound to the hierarchy; empty for cgroup2 and name= hierarchies. */
  controllers: string[];
}

export interface ProcCgroup {
  id: number;
  /** Controllers of a v1 hierarchy (`name=systemd` included as is); empty for v2's "0::". */
  controllers: string[];
  path: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    const fstype = f[sep + 1];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const opts = (f[sep + 3] ?? "").split(",");
    out.push({
      fstype,
      mountpoint: unescape(f[4] ?? ""),
      root: unescape(f[3] ?? "/"),
      controllers: fstype === "cgroup" ? opts.filter((o) => KNOWN_V1.has(o)) : [],
    });
  }
  return out;
}

export function parseProcCgroup(text: string): ProcCgroup[] {
  const out: ProcCgroup[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ id: Number(m[1]), controllers: m[2] ? (m[2] ?? "").split(",") : [], path: m[3] ?? "/" });
  }
  return out;
}

/** `root` + `path`, where path is a cgroup path and root the mounted part of the hierarchy. */
export function underMount(m: Pick<CgroupMount, "mountpoint" | "root">, path: string): string {
  const root = m.root === "/" ? "" : m.root;
  // A path outside what is mounted (another cgroup namespace) can only be the mount itself.
  if (root !== "" && path !== root && !path.startsWith(`${root}/`)) return m.mountpoint;
  const rel = path.slice(root.length).replace(/^\/+/, "").replace(/\/+$/, "");
  return rel === "" ? m.mountpoint : `${m.mountpoint.replace(/\/+$/, "")}/${rel}`;
}

export interface V1Hierarchy {
  controllers: string[];
  mountpoint: string;
  root: string;
  /** The caller's own cgroup in this hierarchy: the default parent. */
  base: string;
}

export type Layout =
  | { version: 1; hierarchies: V1Hierarchy[] }
  | { version: 2; mountpoint: string; root: string; base: string };

/**
 * v1 when any managed controller has a v1 hierarchy (hybrid hosts included,
 * whose cgroup2 mount carries no controllers); v2 when the only cgroup mount
 * with controllers is cgroup2. Returns null when nothing is mounted.
 */
export function layoutOf(mounts: CgroupMount[], self: ProcCgroup[]): Layout | null {
  const hierarchies: V1Hierarchy[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (m.fstype !== "cgroup" || !m.controllers.some((c) => (V1_CONTROLLERS as readonly string[]).includes(c))) continue;
    const key = [...m.controllers].sort().join(",");
    // A hierarchy mounted twice (a bind mount) is used where it was mounted first.
    if (seen.has(key)) continue;
    seen.add(key);
    const mine = self.find((p) => p.id !== 0 && [...p.controllers].sort().join(",") === key);
    hierarchies.push({ controllers: m.controllers, mountpoint: m.mountpoint, root: m.root, base: underMount(m, mine?.path ?? "/") });
  }
  if (hierarchies.length > 0) return { version: 1, hierarchies };
  const v2 = mounts.find((m) => m.fstype === "cgroup2" && m.mountpoint === "/sys/fs/cgroup") ?? mounts.find((m) => m.fstype === "cgroup2");
  if (!v2) return null;
  return v2Layout(v2, self);
}

/** The leaf the v2 backend moves a cgroup's processes into so that the cgroup may delegate controllers. */
export const INIT_LEAF = "init";

export function v2Layout(m: Pick<CgroupMount, "mountpoint" | "root">, self: ProcCgroup[]): Layout {
  let path = self.find((p) => p.id === 0 && p.controllers.length === 0)?.path ?? "/";
  // A caller that cgset (or systemd, or dind) moved into X/init still works
  // from X, so its cgroups stay where they were before the move.
  if (path.endsWith(`/${INIT_LEAF}`)) path = path.slice(0, -INIT_LEAF.length - 1) || "/";
  return { version: 2, mountpoint: m.mountpoint, root: m.root, base: underMount(m, path) };
}

/**
 * A cgroup PATH as given on the command line: relative to the caller's own
 * cgroup, or to the hierarchy's root when it starts with `/`. Returns the
 * components, checked.
 */
export function splitPath(path: string): { absolute: boolean; parts: string[] } {
  const absolute = path.startsWith("/");
  const parts = path.split("/").filter((p) => p !== "");
  if (parts.length === 0) throw new Error(`cgroup path '${path}' names no cgroup`);
  for (const p of parts) {
    if (p === "." || p === ".." || /[\0\n]/.test(p)) throw new Error(`cgroup path '${path}': '${p}' is not a cgroup name`);
  }
  return { absolute, parts };
}
