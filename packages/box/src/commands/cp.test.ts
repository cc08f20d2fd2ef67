import { describe, expect, it } from "vitest";
import { placement, splitArg, validateCp } from "./cp.js";

describe("splitArg", () => {
  it("splits CONTAINER:PATH at the first colon, and takes / . and colon-less paths as local", () => {
    expect(splitArg("web:/etc/passwd")).toEqual({ container: "web", path: "/etc/passwd" });
    expect(splitArg("web:a:b")).toEqual({ container: "web", path: "a:b" });
    expect(splitArg("/tmp/a:b")).toEqual({ path: "/tmp/a:b" });
    expect(splitArg("./a:b")).toEqual({ path: "./a:b" });
    expect(splitArg("file")).toEqual({ path: "file" });
    expect(splitArg("-")).toEqual({ path: "-" });
  });
});

describe("validateCp", () => {
  it("wants exactly one container side and two operands, with status 1 as Docker", () => {
    expect(() => validateCp(["a"])).toThrow(/requires exactly 2 arguments/);
    expect(() => validateCp(["a", "b"])).toThrow(/must specify at least one container source/);
    expect(() => validateCp(["c:/a", "d:/b"])).toThrow(/copying between containers is not supported/);
    expect(() => validateCp(["c:", "/tmp"])).toThrow(/must not be empty/);
    try {
      validateCp(["a", "b"]);
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(1);
    }
    expect(validateCp(["c:/etc", "-"]).src).toEqual({ container: "c", path: "/etc" });
  });
});

describe("placement (Docker's CopyInfo rules)", () => {
  const dir = { exists: true, isDir: true, parentExists: true };
  const file = { exists: true, isDir: false, parentExists: true };
  const none = { exists: false, isDir: false, parentExists: true };
  it("puts a directory under an existing directory, or its contents with /.", () => {
    expect(placement(true, "/data", "/out", dir)).toBe("/out/data");
    expect(placement(true, "/data/", "/out/", dir)).toBe("/out/data");
    expect(placement(true, "/data/.", "/out", dir)).toBe("/out");
  });
  it("makes a missing destination the copy itself", () => {
    expect(placement(true, "/data", "/new", none)).toBe("/new");
    expect(placement(false, "/a.txt", "/new.txt", none)).toBe("/new.txt");
  });
  it("replaces a file, and puts a file under a directory", () => {
    expect(placement(false, "/a.txt", "/b.txt", file)).toBe("/b.txt");
    expect(placement(false, "/a.txt", "/out", dir)).toBe("/out/a.txt");
  });
  it("refuses a directory onto a file, a file into a missing directory, a missing parent", () => {
    expect(() => placement(true, "/data", "/b.txt", file)).toThrow(/cannot copy a directory to a file/);
    expect(() => placement(false, "/a.txt", "/nodir/", none)).toThrow(/destination directory \/nodir\/ does not exist/);
    expect(() => placement(false, "/a.txt", "/x/y", { exists: false, isDir: false, parentExists: false })).toThrow(/no such directory/);
  });
});
