import { describe, expect, it } from "vitest";
import { layoutOf, parseMountinfo, parseProcCgroup, splitPath, underMount } from "./hierarchy.js";

// This project's test machines: v1 controllers, a controller-less cgroup2 at unified,
// and each session confined in its own memory cgroup.
const HYBRID_MOUNTS = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/ad83651f
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

describe("layoutOf", () => {
  it("a hybrid host is v1, each base below the caller's own cgroup", () => {
    const l = layoutOf(parseMountinfo(HYBRID_MOUNTS), parseProcCgroup(HYBRID_SELF));
    expect(l?.version).toBe(1);
    if (l?.version !== 1) return;
    expect(l.hierarchies.map((h) => h.controllers.join(","))).toEqual(["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]);
    expect(l.hierarchies.find((h) => h.controllers.includes("memory"))?.base).toBe("/sys/fs/cgroup/memory/process_api/ad83651f");
    expect(l.hierarchies.find((h) => h.controllers.includes("pids"))?.base).toBe("/sys/fs/cgroup/pids");
  });
  it("co-mounted cpu,cpuacct is one hierarchy", () => {
    const l = layoutOf(
      parseMountinfo("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"),
      parseProcCgroup("3:cpu,cpuacct:/user.slice\n"),
    );
    expect(l).toEqual({ version: 1, hierarchies: [{ controllers: ["cpu", "cpuacct"], mountpoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", base: "/sys/fs/cgroup/cpu,cpuacct/user.slice" }] });
  });
  it("a pure v2 host is v2, below the caller's cgroup", () => {
    const l = layoutOf(
      parseMountinfo("30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"),
      parseProcCgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
    );
    expect(l).toEqual({ version: 2, mountpoint: "/sys/fs/cgroup", root: "/", base: "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope" });
  });
  it("a caller moved into X/init (to let X delegate) still works from X", () => {
    const mounts = parseMountinfo("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    expect(layoutOf(mounts, parseProcCgroup("0::/user.slice/session-2.scope/init\n"))).toMatchObject({ base: "/sys/fs/cgroup/user.slice/session-2.scope" });
    expect(layoutOf(mounts, parseProcCgroup("0::/init\n"))).toMatchObject({ base: "/sys/fs/cgroup" });
  });
  it("inside a container the mount root is the caller's cgroup", () => {
    const l = layoutOf(parseMountinfo("30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"), parseProcCgroup("0::/docker/abc\n"));
    expect(l).toMatchObject({ version: 2, base: "/sys/fs/cgroup" });
    expect(layoutOf([], [])).toBeNull();
  });
  it("underMount", () => {
    expect(underMount({ mountpoint: "/m", root: "/" }, "/a/b")).toBe("/m/a/b");
    expect(underMount({ mountpoint: "/m", root: "/a" }, "/a/b")).toBe("/m/b");
    expect(underMount({ mountpoint: "/m", root: "/a" }, "/other")).toBe("/m");
    expect(underMount({ mountpoint: "/m", root: "/" }, "/")).toBe("/m");
  });
});

describe("splitPath", () => {
  it("relative and absolute paths", () => {
    expect(splitPath("box/c1")).toEqual({ absolute: false, parts: ["box", "c1"] });
    expect(splitPath("/box//c1/")).toEqual({ absolute: true, parts: ["box", "c1"] });
  });
  it("refuses paths that leave the tree or name nothing", () => {
    expect(() => splitPath("")).toThrow("names no cgroup");
    expect(() => splitPath("/")).toThrow("names no cgroup");
    expect(() => splitPath("box/../x")).toThrow("'..' is not a cgroup name");
    expect(() => splitPath("./x")).toThrow("'.' is not a cgroup name");
  });
});
