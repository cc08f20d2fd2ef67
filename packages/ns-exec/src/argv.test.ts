import { describe, expect, it } from "vitest";
import { fromArgv, toArgv } from "./argv.js";
import { validate, parseBind, parseRlimit, parseIdMap } from "./options.js";

describe("ns-exec argv", () => {
  it("stops at the command, so its own flags pass through", () => {
    const { options } = fromArgv(["--pid", "--mount", "--root", "/r", "ls", "-la", "--pid"]);
    expect(options.command).toEqual(["ls", "-la", "--pid"]);
    expect(options.unshare.pid).toBe(true);
  });

  it("--net alone creates a namespace; --net=PATH enters one", () => {
    expect(fromArgv(["--net", "true"]).options.unshare.net).toBe(true);
    expect(fromArgv(["--net", "true"]).options.command).toEqual(["true"]);
    const o = fromArgv(["--net=/run/netns/x", "true"]).options;
    expect(o.netPath).toBe("/run/netns/x");
    expect(o.unshare.net).toBeFalsy();
  });

  it("round-trips through toArgv", () => {
    const argv = ["--pid", "--mount", "--uts", "--ipc", "--net", "--root", "/r", "--hostname", "h1", "-e", "A=1", "--cwd", "/tmp",
      "--setuid", "app", "--bind", "/a:/b:ro", "--tmpfs", "/t:size=1m", "--rlimit", "nofile=10:20", "--caps", "a80425fb",
      "--mask", "/proc/kcore", "--ro-path", "/proc/sys", "--seccomp", "/p/default.json", "--read-only", "--no-new-privileges", "--init", "--", "sh", "-c", "x"];
    const a = fromArgv(argv).options;
    const b = fromArgv(toArgv(a)).options;
    expect(b).toEqual(a);
  });

  it("rejects unknown options with the option's name", () => {
    expect(() => fromArgv(["--bogus", "true"])).toThrow(/unknown option '--bogus'/);
  });
});

describe("ns-exec validate", () => {
  const ok = () => fromArgv(["--pid", "--mount", "--root", "/r", "true"]).options;
  it("accepts a plain config", () => expect(() => validate(ok())).not.toThrow());
  it("needs a command", () => expect(() => validate({ ...ok(), command: [] })).toThrow(/no command/));
  it("needs --mount for --root", () => expect(() => validate({ ...ok(), unshare: { pid: true } })).toThrow(/--mount/));
  it("needs --uts for --hostname", () => expect(() => validate({ ...ok(), hostname: "x" })).toThrow(/UTS namespace/));
  it("refuses a relative root", () => expect(() => validate({ ...ok(), root: "r" })).toThrow(/absolute/));
  it("refuses a bad hostname", () => expect(() => validate({ ...ok(), unshare: { pid: true, mount: true, uts: true }, hostname: "-x" })).toThrow(/invalid hostname/));
  it("needs maps for --user", () => expect(() => validate({ ...ok(), unshare: { pid: true, mount: true, user: true } })).toThrow(/map/));
  it("runs a background command only in a joined PID namespace, with a terminal or not, never with an init", () => {
    const bg = () => ({ ...fromArgv(["true"]).options, background: true, join: [{ kind: "pid" as const, path: "/proc/1/ns/pid" }] });
    expect(() => validate(bg())).not.toThrow();
    expect(() => validate({ ...bg(), join: [] })).toThrow(/joined PID namespace/);
    expect(() => validate({ ...bg(), tty: true })).not.toThrow();
    expect(() => validate({ ...bg(), init: true })).toThrow(/cannot have an init of its own/);
  });
});

describe("ns-exec option parsers", () => {
  it("parses binds", () => {
    expect(parseBind("/a:/b")).toEqual({ source: "/a", target: "/b", readonly: false });
    expect(parseBind("/a:/b:ro")).toEqual({ source: "/a", target: "/b", readonly: true });
    expect(() => parseBind("/a:/b:/c:/d")).toThrow(/invalid bind/);
  });
  it("parses rlimits", () => {
    expect(parseRlimit("nofile=1024")).toEqual({ name: "nofile", soft: 1024, hard: 1024 });
    expect(parseRlimit("core=0:unlimited")).toEqual({ name: "core", soft: 0, hard: -1 });
    expect(() => parseRlimit("nofile")).toThrow(/invalid rlimit/);
  });
  it("parses id maps", () => {
    expect(parseIdMap("0:100000:65536")).toEqual({ inside: 0, outside: 100000, count: 65536 });
    expect(() => parseIdMap("0:1")).toThrow(/invalid id map/);
  });
});
