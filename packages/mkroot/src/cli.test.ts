import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UsageError } from "@box/cli";
import { HELP, parseCommand, run, type Io } from "./cli.js";
import { ago, humanDuration, humanSize, shortId, table } from "./format.js";
import { makeTar, tempRoot } from "./testutil.js";

describe("parseCommand", () => {
  it("maps each command", () => {
    expect(parseCommand(["--help"])).toEqual({ kind: "help" });
    expect(parseCommand(["import", "-h"])).toEqual({ kind: "help" });
    expect(parseCommand(["--root", "/r", "import", "-c", "CMD sh", "--change", "ENV A=1", "-m", "hi", "busybox", "x.tar"])).toEqual({
      kind: "import",
      root: "/r",
      name: "busybox:latest",
      changes: ["CMD sh", "ENV A=1"],
      message: "hi",
      file: "x.tar",
    });
    expect(parseCommand(["import", "a:1"])).toEqual({ kind: "import", name: "a:1", changes: [], file: "-" });
    expect(parseCommand(["import", "a:1", "-"])).toMatchObject({ file: "-" });
    expect(parseCommand(["layers", "--root", "/r", "busybox"])).toEqual({ kind: "layers", root: "/r", image: "busybox" });
    expect(parseCommand(["inspect", "abcd"])).toEqual({ kind: "inspect", image: "abcd" });
    expect(parseCommand(["images", "-q"])).toEqual({ kind: "images", json: false, quiet: true });
    expect(parseCommand(["images", "--json"])).toEqual({ kind: "images", json: true, quiet: false });
    expect(parseCommand(["rm", "-f", "a", "b"])).toEqual({ kind: "rm", images: ["a", "b"], force: true });
  });

  it.each([
    [[], /missing command/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["--bogus", "images"], /unknown option '--bogus'/],
    [["images", "--bogus"], /unknown option '--bogus'/],
    [["images", "extra"], /images: unexpected argument 'extra'/],
    [["images", "--json", "-q"], /cannot be used together/],
    [["import"], /import: missing NAME/],
    [["import", "a", "b", "c"], /unexpected argument 'c'/],
    [["import", "Busybox"], /repository name must be lowercase/],
    [["import", "--change", "RUN x", "a"], /RUN is not a valid change instruction/],
    [["import", "--change"], /needs a value/],
    [["layers"], /layers: missing IMAGE/],
    [["layers", "a", "b"], /unexpected argument 'b'/],
    [["inspect", "Not Valid"], /invalid reference/],
    [["rm"], /rm: missing IMAGE/],
    [["--root", "", "images"], /--root needs a directory/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});

describe("run", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempRoot());
  });
  afterEach(async () => {
    await cleanup();
  });

  function io(stdin: Readable = Readable.from([])): Io & { out: () => string; err: () => string } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const o: Buffer[] = [];
    const e: Buffer[] = [];
    stdout.on("data", (b: Buffer) => o.push(b));
    stderr.on("data", (b: Buffer) => e.push(b));
    return { stdin, stdout, stderr, out: () => Buffer.concat(o).toString(), err: () => Buffer.concat(e).toString() };
  }

  it("prints help to stdout", async () => {
    const t = io();
    expect(await run(["--help"], t)).toBe(0);
    expect(t.out()).toBe(HELP);
  });

  it("imports from stdin and lists, layers, inspects and removes", async () => {
    const root = join(dir, "store");
    const tar = await makeTar([{ header: { name: "hello", type: "file" }, data: "hi" }]);
    const t = io(Readable.from([tar]));
    expect(await run(["--root", root, "import", "--change", "CMD sh", "hello"], t)).toBe(0);
    const id = t.out().trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);

    const l = io();
    await run(["--root", root, "images"], l);
    expect(l.out()).toMatch(new RegExp(`^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\nhello +latest +${id.slice(7, 19)} +(Less than a second|\\d+ seconds?) ago +2B\n$`));

    const q = io();
    await run(["--root", root, "images", "-q"], q);
    expect(q.out()).toBe(`${id.slice(7, 19)}\n`);

    const j = io();
    await run(["--root", root, "images", "--json"], j);
    expect(JSON.parse(j.out())).toEqual([expect.objectContaining({ id, names: ["hello:latest"], size: 2 })]);

    const ly = io();
    await run(["--root", root, "layers", "hello"], ly);
    expect(ly.out()).toMatch(new RegExp(`^${root}/layers/[a-f0-9]{64}\n$`));

    const ins = io();
    await run(["--root", root, "inspect", id.slice(7, 13)], ins);
    expect(JSON.parse(ins.out())).toMatchObject({ id, names: ["hello:latest"], config: { config: { Cmd: ["/bin/sh", "-c", "sh"] } } });

    const rm = io();
    expect(await run(["--root", root, "rm", "hello", "nope"], rm)).toBe(1);
    expect(rm.out()).toMatch(new RegExp(`^Untagged: hello:latest\nDeleted: ${id}\nDeleted: sha256:[a-f0-9]{64}\n$`));
    expect(rm.err()).toBe("mkroot: No such image: nope\n");
  });

  it("refuses to read a tar from a terminal", async () => {
    const stdin = Object.assign(Readable.from([]), { isTTY: true });
    await expect(run(["--root", join(dir, "s"), "import", "x"], io(stdin))).rejects.toThrow(/refusing to read a tar from a terminal/);
  });
});

describe("format", () => {
  it("prints sizes and ages as Docker does", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(1000)).toBe("1kB");
    expect(humanSize(4_262_912)).toBe("4.26MB");
    expect(humanSize(1_500_000_000)).toBe("1.5GB");
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1000)).toBe("1 second");
    expect(humanDuration(45_000)).toBe("45 seconds");
    expect(humanDuration(90_000)).toBe("About a minute");
    expect(humanDuration(5 * 60_000)).toBe("5 minutes");
    expect(humanDuration(60 * 60_000)).toBe("About an hour");
    expect(humanDuration(3 * 3_600_000)).toBe("3 hours");
    expect(humanDuration(3 * 86_400_000)).toBe("3 days");
    expect(humanDuration(21 * 86_400_000)).toBe("3 weeks");
    expect(humanDuration(90 * 86_400_000)).toBe("3 months");
    expect(humanDuration(3 * 365 * 86_400_000)).toBe("3 years");
    expect(ago("2020-01-01T00:00:00Z", Date.parse("2020-01-01T00:05:00Z"))).toBe("5 minutes ago");
    expect(ago("")).toBe("N/A");
    expect(shortId(`sha256:${"ab".repeat(32)}`)).toBe("abababababab");
  });

  it("lays out columns like Docker's tabwriter", () => {
    expect(table([["A", "LONGER HEADER"], ["value-that-is-long", "x"]])).toBe("A                    LONGER HEADER\nvalue-that-is-long   x\n");
  });
});
