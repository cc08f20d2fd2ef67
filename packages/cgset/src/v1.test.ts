import { describe, expect, it } from "vitest";
import { errno, fakeIo } from "./testutil/fakeio.js";
import { planV1, V1Backend, type V1Context } from "./v1.js";
import type { V1Hierarchy } from "./hierarchy.js";
import { LimitError } from "./limits.js";
import { parseDeviceRule } from "./units.js";

const M = 1024 * 1024;
const ctx: V1Context = { memsw: true, weightFile: "blkio.weight", creating: true };
const files = (plan: ReturnType<typeof planV1>) => plan.map((w) => `${w.controller}/${w.file}=${w.value}`);

describe("planV1: exactly what is written", () => {
  it("memory with Docker's swap default (memsw = 2 x memory), limit before memsw on a new cgroup", () => {
    expect(files(planV1({ memory: 32 * M }, ctx))).toEqual(["memory/memory.limit_in_bytes=33554432", "memory/memory.memsw.limit_in_bytes=67108864"]);
  });
  it("memory without swap accounting: the limit alone", () => {
    expect(files(planV1({ memory: 32 * M }, { ...ctx, memsw: false }))).toEqual(["memory/memory.limit_in_bytes=33554432"]);
    expect(() => planV1({ memory: 32 * M, memorySwap: 64 * M }, { ...ctx, memsw: false })).toThrow(LimitError);
  });
  it("memsw first when raising above the current limit, or unlimited", () => {
    const up = { ...ctx, creating: false, currentMemory: 32 * M };
    expect(files(planV1({ memory: 64 * M, memorySwap: 128 * M }, up))).toEqual([
      "memory/memory.memsw.limit_in_bytes=134217728",
      "memory/memory.limit_in_bytes=67108864",
    ]);
    expect(files(planV1({ memory: 64 * M, memorySwap: -1 }, up))).toEqual(["memory/memory.memsw.limit_in_bytes=-1", "memory/memory.limit_in_bytes=67108864"]);
    expect(files(planV1({ memory: 16 * M, memorySwap: 16 * M }, { ...up, currentMemory: 512 * M }))).toEqual([
      "memory/memory.limit_in_bytes=16777216",
      "memory/memory.memsw.limit_in_bytes=16777216",
    ]);
    expect(files(planV1({ memory: -1 }, up))).toEqual(["memory/memory.memsw.limit_in_bytes=-1", "memory/memory.limit_in_bytes=-1"]);
    // An update without --memory-swap leaves swap alone.
    expect(files(planV1({ memory: 64 * M }, up))).toEqual(["memory/memory.limit_in_bytes=67108864"]);
  });
  it("reservation, cpu, cpuset, pids", () => {
    expect(files(planV1({ memoryReservation: 16 * M, cpuShares: 512, cpus: 0.5, cpusetCpus: "0", cpusetMems: "0", pidsLimit: 20 }, ctx))).toEqual([
      "memory/memory.soft_limit_in_bytes=16777216",
      "cpu/cpu.shares=512",
      "cpu/cpu.cfs_period_us=100000",
      "cpu/cpu.cfs_quota_us=50000",
      "cpuset/cpuset.cpus=0",
      "cpuset/cpuset.mems=0",
      "pids/pids.max=20",
    ]);
    expect(files(planV1({ cpuQuota: -1 }, ctx))).toEqual(["cpu/cpu.cfs_quota_us=-1"]);
    expect(files(planV1({ pidsLimit: -1 }, ctx))).toEqual(["pids/pids.max=max"]);
    expect(files(planV1({ pidsLimit: 0 }, ctx))).toEqual(["pids/pids.max=max"]);
  });
  it("blkio: the weight file there is, one throttle line per device", () => {
    expect(
      files(
        planV1(
          {
            blkioWeight: 300,
            deviceReadBps: [{ dev: "254:0", rate: 1048576 }],
            deviceWriteBps: [{ dev: "254:0", rate: 2 }],
            deviceReadIops: [{ dev: "254:0", rate: 3 }],
            deviceWriteIops: [{ dev: "7:0", rate: 4 }],
          },
          { ...ctx, weightFile: "blkio.bfq.weight" },
        ),
      ),
    ).toEqual([
      "blkio/blkio.bfq.weight=300",
      "blkio/blkio.throttle.read_bps_device=254:0 1048576",
      "blkio/blkio.throttle.write_bps_device=254:0 2",
      "blkio/blkio.throttle.read_iops_device=254:0 3",
      "blkio/blkio.throttle.write_iops_device=7:0 4",
    ]);
    expect(() => planV1({ blkioWeight: 300 }, { ...ctx, weightFile: null })).toThrow(/neither blkio.weight nor blkio.bfq.weight/);
  });
  it("devices: deny all, Docker's allow-list, then the given rules in order", () => {
    const plan = files(planV1({ devices: [parseDeviceRule("allow c 10:200 rwm"), parseDeviceRule("deny c 5:1 w")] }, { ...ctx, devicesDefault: true }));
    expect(plan[0]).toBe("devices/devices.deny=a *:* rwm");
    expect(plan.slice(1, 10)).toEqual([
      "devices/devices.allow=c 1:3 rwm",
      "devices/devices.allow=c 1:5 rwm",
      "devices/devices.allow=c 1:7 rwm",
      "devices/devices.allow=c 1:8 rwm",
      "devices/devices.allow=c 1:9 rwm",
      "devices/devices.allow=c 5:0 rwm",
      "devices/devices.allow=c 5:1 rwm",
      "devices/devices.allow=c 5:2 rwm",
      "devices/devices.allow=c 136:* rwm",
    ]);
    expect(plan.slice(10)).toEqual(["devices/devices.allow=c 10:200 rwm", "devices/devices.deny=c 5:1 w"]);
  });
});

const R = "/sys/fs/cgroup";
const hier = (c: string, base = `${R}/${c}`): V1Hierarchy => ({ controllers: [c], mountpoint: `${R}/${c}`, root: "/", base });
const HIERS = [hier("cpu"), hier("cpuacct"), hier("cpuset"), hier("memory", `${R}/memory/session`), hier("pids"), hier("freezer"), hier("devices"), hier("blkio")];

function host(onWrite?: Parameters<typeof fakeIo>[0]["onWrite"]) {
  const kernelFiles: Record<string, string[]> = {
    cpu: ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
    cpuacct: ["cpuacct.usage"],
    cpuset: ["cpuset.cpus", "cpuset.mems", "cpuset.effective_cpus"],
    memory: ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.usage_in_bytes"],
    pids: ["pids.max", "pids.current"],
    freezer: ["freezer.state"],
    devices: ["devices.allow", "devices.deny"],
    blkio: ["blkio.throttle.read_bps_device"],
  };
  const files: Record<string, string> = {};
  for (const h of HIERS) {
    const c = h.controllers[0]!;
    for (const f of ["cgroup.procs", ...kernelFiles[c]!]) files[`${h.base}/${f}`] = "";
  }
  files[`${R}/cpuset/cpuset.cpus`] = "0-1\n";
  files[`${R}/cpuset/cpuset.mems`] = "0\n";
  files[`${R}/cpuset/cpuset.effective_cpus`] = "0-1\n";
  files[`${R}/cpuset/cpuset.effective_mems`] = "0\n";
  return fakeIo({
    dirs: [R, ...HIERS.map((h) => h.mountpoint), ...HIERS.map((h) => h.base)],
    files,
    newDir: (dir) => {
      const c = dir.slice(R.length + 1).split("/")[0]!;
      return Object.fromEntries(["cgroup.procs", ...(kernelFiles[c] ?? [])].map((f) => [f, ""]));
    },
    onWrite,
  });
}

describe("V1Backend.create against a fake cgroupfs", () => {
  it("fills a parent cpuset that another cgset made but has not filled yet, so the child can take tasks", () => {
    const io = host();
    // Another cgset's mkdir of box, before its writes of cpus and mems: both still empty.
    io.mkdir(`${R}/cpuset/box`);
    const b = new V1Backend(HIERS, io, () => 2);
    b.create("box/c2", {});
    expect(io.data.get(`${R}/cpuset/box/cpuset.cpus`)).toBe("0-1");
    expect(io.data.get(`${R}/cpuset/box/cpuset.mems`)).toBe("0");
    expect(io.data.get(`${R}/cpuset/box/c2/cpuset.cpus`)).toBe("0-1");
    expect(io.data.get(`${R}/cpuset/box/c2/cpuset.mems`)).toBe("0");
  });

  it("makes box/c1 below each base, gives new cpusets their parent's cpus and mems, then writes the limits", () => {
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    const cg = b.create("box/c1", { memory: 64 * M, cpusetCpus: "1" });
    expect(cg.dirs).toContain(`${R}/memory/session/box/c1`);
    expect(cg.dirs).toContain(`${R}/pids/box/c1`);
    const cpuset = io.ops.filter((o) => o[1].startsWith(`${R}/cpuset`));
    expect(cpuset).toEqual([
      ["mkdir", `${R}/cpuset/box`],
      ["write", `${R}/cpuset/box/cpuset.cpus`, "0-1"],
      ["write", `${R}/cpuset/box/cpuset.mems`, "0"],
      ["mkdir", `${R}/cpuset/box/c1`],
      ["write", `${R}/cpuset/box/c1/cpuset.cpus`, "0-1"],
      ["write", `${R}/cpuset/box/c1/cpuset.mems`, "0"],
      ["write", `${R}/cpuset/box/c1/cpuset.cpus`, "1"],
    ]);
    expect(io.writes().filter(([f]) => f.includes("/memory/"))).toEqual([
      [`${R}/memory/session/box/c1/memory.limit_in_bytes`, String(64 * M)],
      [`${R}/memory/session/box/c1/memory.memsw.limit_in_bytes`, String(128 * M)],
    ]);
  });

  it("an absolute path starts at each hierarchy's root", () => {
    const io = host();
    const cg = new V1Backend(HIERS, io, () => 2).create("/box/c2", {});
    expect(cg.dirs).toContain(`${R}/memory/box/c2`);
  });

  it("refuses bad limits before making anything", () => {
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    expect(() => b.create("box/c1", { cpusetCpus: "99" })).toThrow("Requested CPUs are not available - requested 99, available: 0-1");
    expect(() => b.create("box/c1", { cpus: -1 })).toThrow("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    expect(io.ops).toEqual([]);
  });

  it("undoes every directory it made when the kernel refuses a write", () => {
    const io = host((file) => {
      if (file.endsWith("blkio.throttle.read_bps_device")) throw errno("write", file, "ENODEV");
    });
    const b = new V1Backend(HIERS, io, () => 2);
    expect(() => b.create("box/c1", { pidsLimit: 5, deviceReadBps: [{ dev: "7:99", rate: 1 }] })).toThrow(
      `write ${R}/blkio/box/c1/blkio.throttle.read_bps_device: ENODEV (no such device)`,
    );
    const made = io.ops.filter((o) => o[0] === "mkdir").map((o) => o[1]);
    const removed = io.ops.filter((o) => o[0] === "rmdir").map((o) => o[1]);
    expect(made.length).toBe(16);
    expect([...removed].sort()).toEqual([...made].sort());
    for (const d of made) expect(io.exists(d)).toBe(false);
  });

  it("leaves a parent that was already there, and refuses an existing leaf", () => {
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    b.create("box/a", {});
    io.ops.length = 0;
    expect(() => b.create("box/a", {})).toThrow(/mkdir .*\/box\/a: EEXIST/);
    expect(io.ops.filter((o) => o[0] === "rmdir")).toEqual([]);
    b.create("box/b", {});
    expect(io.ops.filter((o) => o[0] === "mkdir" && o[1].endsWith("/box"))).toEqual([]);
  });

  it("remove refuses a cgroup with processes unless told to kill; --parents prunes empty parents", () => {
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    const cg = b.create("box/c1", {});
    io.data.set(`${R}/pids/box/c1/cgroup.procs`, "4242\n");
    expect(() => cg.remove()).toThrow("box/c1: not empty: pids 4242");
    io.data.set(`${R}/pids/box/c1/cgroup.procs`, "");
    cg.remove({ parents: true });
    for (const h of HIERS) {
      expect(io.exists(`${h.base}/box/c1`)).toBe(false);
      expect(io.exists(`${h.base}/box`)).toBe(false);
      expect(io.exists(h.base)).toBe(true);
    }
  });

  it("update writes memsw first when raising memory above the current limit", () => {
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    const cg = b.create("box/c1", { memory: 32 * M, memorySwap: 32 * M });
    io.ops.length = 0;
    cg.update({ memory: 64 * M, memorySwap: 64 * M });
    expect(io.writes()).toEqual([
      [`${R}/memory/session/box/c1/memory.memsw.limit_in_bytes`, String(64 * M)],
      [`${R}/memory/session/box/c1/memory.limit_in_bytes`, String(64 * M)],
    ]);
  });

  it("freeze waits until freezer.state reads FROZEN", () => {
    let reads = 0;
    const io = host();
    const b = new V1Backend(HIERS, io, () => 2);
    const cg = b.create("box/c1", {});
    const state = `${R}/freezer/box/c1/freezer.state`;
    const read = io.read;
    io.read = (f) => (f === state && ++reads < 3 ? "FREEZING\n" : read(f));
    cg.freeze();
    expect(reads).toBe(3);
    expect(io.writes().filter(([f]) => f === state).map(([, v]) => v)).toEqual(["FROZEN", "FROZEN", "FROZEN"]);
  });
});
