import { describe, expect, it } from "vitest";
import { shiftedDir, toHost } from "./shift.js";

const RANGE = [{ inside: 0, outside: 100000, count: 65536 }];

describe("toHost", () => {
  it("maps through the ranges, in order, and an id outside them as the overflow id", () => {
    expect(toHost(RANGE, 0)).toBe(100000);
    expect(toHost(RANGE, 65535)).toBe(165535);
    expect(toHost(RANGE, 65536)).toBe(100000 + 65534);
    const split = [
      { inside: 0, outside: 100000, count: 1000 },
      { inside: 1000, outside: 300000, count: 64536 },
    ];
    expect(toHost(split, 999)).toBe(100999);
    expect(toHost(split, 1000)).toBe(300000);
    // No range holds the overflow id either: the host's own.
    expect(toHost([{ inside: 0, outside: 100000, count: 10 }], 10)).toBe(65534);
  });
});

describe("shiftedDir", () => {
  it("names the range by root's host ids and a hash of the maps", () => {
    expect(shiftedDir("/r", RANGE, RANGE)).toMatch(/^\/r\/layers-shifted\/100000\.100000\.[0-9a-f]{8}$/);
    expect(shiftedDir("/r", RANGE, RANGE)).not.toBe(shiftedDir("/r", RANGE, [{ inside: 0, outside: 100000, count: 1000 }]));
  });
});
