import { describe, expect, it } from "vitest";
import { parseRunFlags } from "./flags.js";
import { buildSpec, command, parseVolume } from "./spec.js";

const image = { config: { Env: ["PATH=/bin", "A=image"], Cmd: ["sh"], WorkingDir: "/w", User: "" } };
const spec = (argv: string[]) => buildSpec({ flags: parseRunFlags(argv), image, id: "f".repeat(64), rootfs: "/r" });

describe("box run flags -> ns-exec config", () => {
  it("uses the image's Cmd, Env and WorkingDir", () => {
    const o = spec(["busybox"]);
    expect(o.command).toEqual(["sh"]);
    expect(o.env).toContain("A=image");
    expect(o.cwd).toBe("/w");
    expect(o.hostname).toBe("ffffffffffff");
  });
  it("lets -e override the image's Env, in order", () => {
    const o = spec(["-e", "A=flag", "busybox"]);
    expect(o.env.lastIndexOf("A=flag")).toBeGreaterThan(o.env.indexOf("A=image"));
  });
  it("--entrypoint resets Cmd as Docker does", () => {
    expect(command(parseRunFlags(["--entrypoint", "echo", "busybox"]), image)).toEqual(["echo"]);
    expect(command(parseRunFlags(["--entrypoint", "echo", "busybox", "hi"]), image)).toEqual(["echo", "hi"]);
  });
  it("stops parsing at the image", () => {
    expect(spec(["busybox", "ls", "-l", "--rm"]).command).toEqual(["ls", "-l", "--rm"]);
  });
  it("gives Docker's default capabilities", () => expect(spec(["busybox"]).caps).toBe(0xa80425fbn));
  it("applies --cap-drop and --cap-add", () => {
    expect(spec(["--cap-drop", "NET_RAW", "busybox"]).caps).toBe(0xa80425fbn & ~(1n << 13n));
    expect(spec(["--cap-drop", "ALL", "--cap-add", "CHOWN", "busybox"]).caps).toBe(1n);
  });
  it("refuses an unknown capability", () => expect(() => spec(["--cap-add", "FLY", "busybox"])).toThrow(/invalid capability: FLY/));
  it("parses volumes", () => {
    expect(parseVolume("/a:/b:ro")).toEqual({ source: "/a", target: "/b", readonly: true });
    expect(() => parseVolume("data:/b")).toThrow(/named volumes/);
    expect(() => parseVolume("/a:b")).toThrow(/absolute/);
  });
  it("refuses an unknown network", () => expect(() => spec(["--network", "bogus", "busybox"])).toThrow(/network bogus not found/));
  it("host network keeps the host's UTS and net namespaces", () => {
    const o = spec(["--network", "host", "busybox"]);
    expect(o.unshare.net).toBe(false);
    expect(o.unshare.uts).toBe(false);
  });
  it("fails on no command", () => expect(() => buildSpec({ flags: parseRunFlags(["x"]), image: { config: {} }, id: "0".repeat(64), rootfs: "/r" })).toThrow(/No command specified/));
});
