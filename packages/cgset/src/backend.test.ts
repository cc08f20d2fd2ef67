import { describe, expect, it } from "vitest";
import { mkdirChain } from "./backend.js";
import { fakeIo } from "./testutil/fakeio.js";

describe("mkdirChain", () => {
  it("makes the missing parents and the leaf, and lists what it made", () => {
    const io = fakeIo({ dirs: ["/cg"] });
    const created: string[] = [];
    mkdirChain(io, "/cg", "/cg/box/abc", created);
    expect(created).toEqual(["/cg/box", "/cg/box/abc"]);
  });

  it("refuses a leaf that is already there", () => {
    const io = fakeIo({ dirs: ["/cg", "/cg/box", "/cg/box/abc"] });
    expect(() => mkdirChain(io, "/cg", "/cg/box/abc", [])).toThrow(/EEXIST/);
  });

  it("starts again when another process removes an empty parent between two steps", () => {
    const io = fakeIo({ dirs: ["/cg"] });
    const mkdir = io.mkdir.bind(io);
    let raced = false;
    // Another box's pruneParents removes /cg/box right after we made it.
    io.mkdir = (dir: string) => {
      mkdir(dir);
      if (dir === "/cg/box" && !raced) {
        raced = true;
        io.dirs.delete("/cg/box");
      }
    };
    const created: string[] = [];
    mkdirChain(io, "/cg", "/cg/box/abc", created);
    expect(raced).toBe(true);
    expect(io.dirs.has("/cg/box/abc")).toBe(true);
    expect(created).toEqual(["/cg/box", "/cg/box/abc"]);
  });
});
