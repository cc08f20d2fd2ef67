import { describe, expect, it } from "vitest";
import { humanSize } from "./format.js";

describe("humanSize", () => {
  it("is go-units' HumanSize to 3 digits: decimal units, zeros dropped after the point only", () => {
    expect([0, 999, 1000, 1500, 100_000, 1_980_000, 10_000_000, 12_345_678].map(humanSize)).toEqual(["0B", "999B", "1kB", "1.5kB", "100kB", "1.98MB", "10MB", "12.3MB"]);
  });
});
