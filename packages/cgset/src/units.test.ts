import { describe, expect, it } from "vitest";
import { formatCpuList, formatDeviceRule, parseCpuList, parseCpus, parseDeviceRate, parseDeviceRule, parseInteger, parseSize, parseSwap } from "./units.js";

describe("parseSize (Docker's RAMInBytes)", () => {
  it("reads 1024-based units, with or without i and b", () => {
    expect(parseSize("64m")).toBe(64 * 1024 * 1024);
    expect(parseSize("64M")).toBe(64 * 1024 * 1024);
    expect(parseSize("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("64mb")).toBe(64 * 1024 * 1024);
    expect(parseSize("64 MB")).toBe(64 * 1024 * 1024);
    expect(parseSize("512k")).toBe(512 * 1024);
    expect(parseSize("1g")).toBe(1024 ** 3);
    expect(parseSize("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("100")).toBe(100);
    expect(parseSize("100b")).toBe(100);
    expect(parseSize("1t")).toBe(1024 ** 4);
  });
  it("truncates fractions of a byte", () => {
    expect(parseSize("1.5")).toBe(1);
    expect(parseSize("0.5k")).toBe(512);
  });
  it("rejects what Docker rejects, with Docker's message", () => {
    for (const bad of ["12zz", "", "m", "-1", "1.2.3m", "64 m b x", " 64m"]) {
      expect(() => parseSize(bad), bad).toThrow(`invalid size: '${bad}'`);
    }
  });
  it("memory-swap takes -1 for unlimited", () => {
    expect(parseSwap("-1")).toBe(-1);
    expect(parseSwap("128m")).toBe(128 << 20);
  });
});

describe("parseCpus", () => {
  it("reads decimals", () => {
    expect(parseCpus("0.5")).toBe(0.5);
    expect(parseCpus("2")).toBe(2);
    expect(parseCpus(".25")).toBe(0.25);
    expect(parseCpus("-1")).toBe(-1); // a number; validateLimits refuses the range
  });
  it("refuses what is not a number, and more precision than nanoseconds", () => {
    expect(() => parseCpus("abc")).toThrow("failed to parse abc as a rational number");
    expect(() => parseCpus("")).toThrow("failed to parse  as a rational number");
    expect(() => parseCpus("0.0000000001")).toThrow("value is too precise");
    expect(parseCpus("0.100000000000")).toBe(0.1);
  });
});

describe("parseInteger", () => {
  it("has Go's messages", () => {
    expect(parseInteger("20")).toBe(20);
    expect(parseInteger("-1")).toBe(-1);
    expect(() => parseInteger("x")).toThrow('strconv.ParseInt: parsing "x": invalid syntax');
    expect(() => parseInteger("-5", true)).toThrow('strconv.ParseUint: parsing "-5": invalid syntax');
  });
});

describe("cpu lists", () => {
  it("parses and formats ranges", () => {
    expect(parseCpuList("0-2,5")).toEqual([0, 1, 2, 5]);
    expect(parseCpuList("1,0,1")).toEqual([0, 1]);
    expect(parseCpuList("")).toEqual([]);
    expect(parseCpuList("0-1\n")).toEqual([0, 1]);
    expect(formatCpuList([5, 0, 1, 2])).toBe("0-2,5");
    expect(formatCpuList([0])).toBe("0");
    expect(() => parseCpuList("0-x")).toThrow("invalid format: 0-x");
    expect(() => parseCpuList("3-1")).toThrow("invalid format");
  });
});

describe("parseDeviceRate", () => {
  it("takes a path or MAJ:MIN and a rate", () => {
    expect(parseDeviceRate("/dev/vda:1m", "bps")).toEqual({ dev: "/dev/vda", rate: 1 << 20 });
    expect(parseDeviceRate("254:0:1mb", "bps")).toEqual({ dev: "254:0", rate: 1 << 20 });
    expect(parseDeviceRate("/dev/vda:100", "iops")).toEqual({ dev: "/dev/vda", rate: 100 });
  });
  it("gives Docker's messages", () => {
    expect(() => parseDeviceRate("vda", "bps")).toThrow("bad format: vda");
    expect(() => parseDeviceRate("vda:1m", "bps")).toThrow("vda is not an absolute path or MAJ:MIN");
    expect(() => parseDeviceRate("/dev/vda:fast", "bps")).toThrow(
      "invalid rate for device: /dev/vda:fast. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb",
    );
    expect(() => parseDeviceRate("/dev/vda:1m", "iops")).toThrow("invalid rate for device: /dev/vda:1m. The correct format is <device-path>:<number>. Number must be a positive integer");
  });
});

describe("device rules", () => {
  it("parse the devices.allow syntax behind allow or deny", () => {
    expect(parseDeviceRule("allow c 1:3 rwm")).toEqual({ allow: true, type: "c", major: 1, minor: 3, access: "rwm" });
    expect(parseDeviceRule("deny b 8:* m")).toEqual({ allow: false, type: "b", major: 8, minor: "*", access: "m" });
    expect(parseDeviceRule("allow c 136:*")).toEqual({ allow: true, type: "c", major: 136, minor: "*", access: "rwm" });
    expect(parseDeviceRule("deny a")).toEqual({ allow: false, type: "a", major: "*", minor: "*", access: "rwm" });
  });
  it("refuse other shapes", () => {
    for (const bad of ["c 1:3 rwm", "allow x 1:3 rwm", "allow c 1 rwm", "allow c 1:3 rwx", "allow c 1:3 rr", "allow c 1:3 r w"]) {
      expect(() => parseDeviceRule(bad), bad).toThrow(/device rule/);
    }
  });
  it("format back to the kernel's line", () => {
    expect(formatDeviceRule(parseDeviceRule("allow c 1:3 rwm"))).toBe("c 1:3 rwm");
    expect(formatDeviceRule(parseDeviceRule("deny b *:* m"))).toBe("b *:* m");
    expect(formatDeviceRule(parseDeviceRule("deny a"))).toBe("a *:* rwm");
  });
});
