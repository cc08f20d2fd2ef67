import { describe, expect, it } from "vitest";
import { cfs, controllersFor, LimitError, sharesToWeight, validateLimits, type Host } from "./limits.js";

const M = 1024 * 1024;
const host: Host = { ncpu: 2, cpus: "0-1", mems: "0", controllers: ["memory", "cpu", "cpuset", "pids", "io", "devices"], swap: true, where: "cgroup v1" };
const bad = (l: Parameters<typeof validateLimits>[0], msg: string | RegExp, h: Host = host) => {
  expect(() => validateLimits(l, h)).toThrow(LimitError);
  expect(() => validateLimits(l, h)).toThrow(msg);
};

describe("validateLimits", () => {
  it("accepts sane limits", () => {
    validateLimits({ memory: 64 * M, memorySwap: 128 * M, cpus: 0.5, cpusetCpus: "0-1", pidsLimit: 20, blkioWeight: 500 }, host);
    validateLimits({ memory: 6 * M, memorySwap: -1 }, host);
    validateLimits({ memory: -1 }, host);
    validateLimits({ cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 512 }, host);
    validateLimits({}, {});
  });
  it("memory: Docker's rules", () => {
    bad({ memory: 4 * M }, "Minimum memory limit allowed is 6MB");
    bad({ memorySwap: 64 * M }, "You should always set the Memory limit when using Memoryswap limit, see usage");
    bad({ memory: 64 * M, memorySwap: 32 * M }, "Minimum memoryswap limit should be larger than memory limit, see usage");
    bad({ memoryReservation: M }, "Minimum memory reservation allowed is 6MB");
    bad({ memory: 32 * M, memoryReservation: 64 * M }, "Minimum memory limit can not be less than memory reservation limit, see usage");
    bad({ memory: 1.5 }, "memory: 1.5 is not a whole number");
  });
  it("memory-swap needs swap accounting", () => {
    bad({ memory: 64 * M, memorySwap: 128 * M }, /swap accounting|does not account swap/, { ...host, swap: false });
  });
  it("cpus: the range depends on the host's CPUs", () => {
    bad({ cpus: -1 }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    bad({ cpus: 3 }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    bad({ cpus: 0.001 }, "Range of CPUs is from 0.01 to 2.00");
    validateLimits({ cpus: 2 }, host);
    validateLimits({ cpus: 0.01 }, host);
    bad({ cpus: -1 }, "Range of CPUs is from 0.01", {});
  });
  it("cpus and the CFS knobs do not mix", () => {
    bad({ cpus: 1, cpuPeriod: 100000 }, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    bad({ cpus: 1, cpuQuota: 100000 }, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    bad({ cpuPeriod: 999 }, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    bad({ cpuPeriod: 1000001 }, "CPU cfs period");
    bad({ cpuQuota: 999 }, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    validateLimits({ cpuQuota: -1 }, host);
    bad({ cpuShares: 1 }, "cpu-shares: 1 is out of range");
  });
  it("cpuset: only what the parent has", () => {
    bad({ cpusetCpus: "99" }, "Requested CPUs are not available - requested 99, available: 0-1");
    bad({ cpusetCpus: "0-2" }, "Requested CPUs are not available - requested 0-2, available: 0-1");
    bad({ cpusetMems: "1" }, "Requested memory nodes are not available - requested 1, available: 0");
    bad({ cpusetCpus: "zero" }, "Invalid value zero for cpuset cpus");
    bad({ cpusetCpus: "" }, "Invalid value  for cpuset cpus");
    validateLimits({ cpusetCpus: "99" }, {});
  });
  it("blkio", () => {
    bad({ blkioWeight: 5 }, "Range of blkio weight is from 10 to 1000");
    bad({ blkioWeight: 100 }, /has no weight file/, { ...host, ioWeight: false });
    bad({ deviceReadBps: [{ dev: "/dev/vda", rate: 1 }] }, "device-read-bps: '/dev/vda' is not MAJ:MIN");
  });
  it("a controller the host lacks: named, with what there is", () => {
    bad({ memory: 64 * M }, "the memory controller is not available in /sys/fs/cgroup/unified (it has hugetlb)", {
      controllers: ["devices"],
      listed: ["hugetlb"],
      where: "/sys/fs/cgroup/unified",
    });
    bad({ pidsLimit: 5 }, "(it has none)", { controllers: [], where: "x" });
  });
});

describe("conversions", () => {
  it("controllersFor names what the limits write to", () => {
    expect(controllersFor({ memory: 1, cpus: 1, pidsLimit: 0, deviceReadBps: [{ dev: "8:0", rate: 1 }], devices: [] }).sort()).toEqual(["cpu", "io", "memory", "pids"]);
    expect(controllersFor({ memory: 0, cpusetMems: "0" })).toEqual(["cpuset"]);
  });
  it("shares to weight as runc", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
  it("cpus to a CFS quota per 100 ms", () => {
    expect(cfs({ cpus: 0.5 })).toEqual({ period: 100000, quota: 50000 });
    expect(cfs({ cpus: 1.5 })).toEqual({ period: 100000, quota: 150000 });
    expect(cfs({ cpuQuota: 20000 })).toEqual({ quota: 20000 });
    expect(cfs({})).toEqual({});
  });
});
