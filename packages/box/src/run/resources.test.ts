import { describe, expect, it } from "vitest";
import { ExitError } from "@box/cli";
import { parseResourceFlags, type ResourceHost } from "./resources.js";

const M = 1024 * 1024;
const host: ResourceHost = { ncpu: 2, cpus: "0-1", mems: "0" };
const parse = (o: Record<string, string | string[] | undefined>) => parseResourceFlags(o, host);

function refuses(o: Record<string, string | string[] | undefined>, message: string): void {
  let err: unknown;
  try {
    parse(o);
  } catch (e) {
    err = e;
  }
  expect(err, message).toBeInstanceOf(ExitError);
  expect((err as ExitError).exitCode).toBe(125);
  expect((err as ExitError).message).toBe(message);
}

describe("parseResourceFlags", () => {
  it("maps Docker's flags to cgset's Limits", () => {
    expect(
      parse({
        memory: "64m",
        "memory-swap": "128m",
        "memory-reservation": "32m",
        cpus: "0.5",
        "cpu-shares": "512",
        "cpuset-cpus": "0-1",
        "cpuset-mems": "0",
        "pids-limit": "20",
        "blkio-weight": "300",
        "device-read-bps": "/dev/vda:1mb",
        "device-write-bps": ["/dev/vda:2m", "/dev/vdb:3m"],
        "device-read-iops": "/dev/vda:100",
        "device-write-iops": "/dev/vda:200",
      }),
    ).toEqual({
      memory: 64 * M,
      memorySwap: 128 * M,
      memoryReservation: 32 * M,
      cpus: 0.5,
      cpuShares: 512,
      cpusetCpus: "0-1",
      cpusetMems: "0",
      pidsLimit: 20,
      blkioWeight: 300,
      deviceReadBps: [{ dev: "/dev/vda", rate: M }],
      deviceWriteBps: [
        { dev: "/dev/vda", rate: 2 * M },
        { dev: "/dev/vdb", rate: 3 * M },
      ],
      deviceReadIops: [{ dev: "/dev/vda", rate: 100 }],
      deviceWriteIops: [{ dev: "/dev/vda", rate: 200 }],
    });
  });

  it("takes the short forms, the CFS knobs, unlimited swap and pids, and nothing", () => {
    expect(parse({ m: "1g", c: "2048" })).toEqual({ memory: 1024 * M, cpuShares: 2048 });
    expect(parse({ "cpu-period": "50000", "cpu-quota": "25000" })).toEqual({ cpuPeriod: 50000, cpuQuota: 25000 });
    expect(parse({ memory: "64m", "memory-swap": "-1", "pids-limit": "-1" })).toEqual({ memory: 64 * M, memorySwap: -1, pidsLimit: -1 });
    expect(parse({ memory: "0", cpus: "0" })).toEqual({});
    expect(parse({})).toEqual({});
    expect(parse({ memory: undefined, name: "web" })).toEqual({});
  });

  it("refuses values that do not parse, as pflag words it", () => {
    refuses({ memory: "12zz" }, `invalid argument "12zz" for "-m, --memory" flag: invalid size: '12zz'`);
    refuses({ m: "lots" }, `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`);
    refuses({ "memory-swap": "x" }, `invalid argument "x" for "--memory-swap" flag: invalid size: 'x'`);
    refuses({ cpus: "abc" }, `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`);
    refuses({ "cpu-shares": "x" }, `invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax`);
    refuses({ "pids-limit": "many" }, `invalid argument "many" for "--pids-limit" flag: strconv.ParseInt: parsing "many": invalid syntax`);
    refuses({ "blkio-weight": "70000" }, `invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range`);
    refuses({ "device-read-bps": "vda" }, `invalid argument "vda" for "--device-read-bps" flag: bad format: vda`);
    refuses({ "device-read-bps": "vda:1m" }, `invalid argument "vda:1m" for "--device-read-bps" flag: bad format for device path: vda:1m`);
    refuses(
      { "device-write-iops": "/dev/vda:1m" },
      `invalid argument "/dev/vda:1m" for "--device-write-iops" flag: invalid rate for device: /dev/vda:1m. The correct format is <device-path>:<number>. Number must be a positive integer`,
    );
  });

  it("refuses what the daemon would, with its sentence", () => {
    refuses({ cpus: "-1" }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    refuses({ cpus: "3" }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    refuses({ memory: "4m" }, "Minimum memory limit allowed is 6MB");
    refuses({ "memory-swap": "64m" }, "You should always set the Memory limit when using Memoryswap limit, see usage");
    refuses({ memory: "64m", "memory-swap": "32m" }, "Minimum memoryswap limit should be larger than memory limit, see usage");
    refuses({ "memory-reservation": "1m" }, "Minimum memory reservation allowed is 6MB");
    refuses({ memory: "32m", "memory-reservation": "64m" }, "Minimum memory limit can not be less than memory reservation limit, see usage");
    refuses({ cpus: "1", "cpu-period": "100000" }, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    refuses({ cpus: "1", "cpu-quota": "50000" }, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    refuses({ "cpu-period": "500" }, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    refuses({ "cpu-quota": "500" }, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    refuses({ "cpuset-cpus": "99" }, "Requested CPUs are not available - requested 99, available: 0-1");
    refuses({ "cpuset-cpus": "0-x" }, "Invalid value 0-x for cpuset cpus");
    refuses({ "cpuset-mems": "1" }, "Requested memory nodes are not available - requested 1, available: 0");
    refuses({ "blkio-weight": "5" }, "Range of blkio weight is from 10 to 1000");
  });

  it("checks cpus against this host by default", () => {
    expect(() => parseResourceFlags({ cpus: "9999" })).toThrow(/^Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available$/);
  });
});
