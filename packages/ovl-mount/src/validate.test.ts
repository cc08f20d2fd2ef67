import { describe, expect, it } from "vitest";
import { UsageError } from "@box/cli";
import { validate, MAX_LOWERS, type OverlaySpec } from "./validate.js";

const ok: OverlaySpec = { lower: ["/l/a", "/l/b"], upper: "/c/upper", work: "/c/work", target: "/c/merged" };

function rejects(spec: unknown, message: RegExp): void {
  let caught: unknown;
  try {
    validate(spec as OverlaySpec);
  } catch (err) {
    caught = err;
  }
  expect(caught, `validate(${JSON.stringify(spec)}) should throw`).toBeInstanceOf(UsageError);
  expect((caught as Error).message).toMatch(message);
}

describe("validate", () => {
  it("accepts a full spec, a read-only stack and a single lower", () => {
    expect(() => validate(ok)).not.toThrow();
    expect(() => validate({ lower: ["/a", "/b"], target: "/m" })).not.toThrow();
    expect(() => validate({ lower: ["/a"], target: "/m", readonly: true })).not.toThrow();
    expect(() => validate({ lower: ["/a:b,c"], target: "/m" })).not.toThrow();
  });

  it("rejects an empty or missing lower list", () => {
    rejects({ ...ok, lower: [] }, /no lower directory/);
    rejects({ target: "/m" }, /lower must be a list/);
  });

  it("rejects more lowers than overlayfs stacks", () => {
    rejects({ ...ok, lower: Array.from({ length: MAX_LOWERS + 1 }, (_, i) => `/l/${i}`) }, /at most 500/);
  });

  it("rejects relative and empty paths", () => {
    rejects({ ...ok, lower: ["/l/a", "l/b"] }, /lower #2 'l\/b': must be an absolute path/);
    rejects({ ...ok, target: "merged" }, /target 'merged': must be an absolute path/);
    rejects({ ...ok, upper: "./up" }, /upper '.\/up': must be an absolute path/);
    rejects({ ...ok, work: "" }, /work: must be a non-empty path/);
    rejects({ ...ok, target: undefined }, /target: must be a non-empty path/);
  });

  it("rejects a NUL byte, which a C string would cut at", () => {
    rejects({ ...ok, lower: ["/l/a\0/x"] }, /NUL/);
  });

  it("rejects upper without work and work without upper", () => {
    rejects({ lower: ["/a"], upper: "/u", target: "/m" }, /upper directory needs a work directory/);
    rejects({ lower: ["/a"], work: "/w", target: "/m" }, /only used with an upper/);
  });

  it("rejects nested or shared upper, work and lower", () => {
    rejects({ ...ok, work: "/c/upper/work" }, /must be separate directories/);
    rejects({ ...ok, work: "/c/upper" }, /must be separate directories/);
    rejects({ ...ok, upper: "/c/work/up" }, /must be separate directories/);
    rejects({ ...ok, lower: ["/c/upper/x"] }, /lower '\/c\/upper\/x' and upper '\/c\/upper' overlap/);
    rejects({ ...ok, lower: ["/c"] }, /overlap/);
    rejects({ ...ok, lower: ["/c/work"] }, /lower '\/c\/work' and work '\/c\/work' overlap/);
    // A sibling whose name merely starts the same is no overlap.
    expect(() => validate({ ...ok, lower: ["/c/upper2"] })).not.toThrow();
  });

  it("rejects a readonly that is not a boolean", () => {
    rejects({ ...ok, readonly: "yes" }, /readonly must be true or false/);
  });
});
