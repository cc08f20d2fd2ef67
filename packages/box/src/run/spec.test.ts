import { describe, expect, it } from "vitest";
import { parseMountFlag, parseRunFlags } from "./flags.js";
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
    expect(parseVolume("data:/b")).toEqual({ source: "", target: "/b", readonly: false, volume: "data" });
    expect(parseVolume("data:/b:ro,nocopy")).toEqual({ source: "", target: "/b", readonly: true, volume: "data" });
    expect(parseVolume("/scratch")).toEqual({ source: "", target: "/scratch", readonly: false, volume: "" });
    expect(() => parseVolume("bad name:/b")).toThrow(/includes invalid characters for a local volume name/);
    expect(() => parseVolume("scratch")).toThrow(/mount path must be absolute/);
    expect(() => parseVolume("/a:b")).toThrow(/absolute/);
  });
  it("reads --mount as the -v or --tmpfs it means", () => {
    expect(parseMountFlag("type=bind,source=/h,target=/c,readonly")).toEqual({ volume: "/h:/c:ro" });
    expect(parseMountFlag("type=volume,src=data,dst=/d,volume-nocopy")).toEqual({ volume: "data:/d:nocopy" });
    expect(parseMountFlag("target=/anon")).toEqual({ volume: "/anon" });
    expect(parseMountFlag("type=tmpfs,destination=/t,tmpfs-size=64m")).toEqual({ tmpfs: "/t:size=64m" });
    expect(() => parseMountFlag("type=bind,target=/c")).toThrow(/source is required/);
    expect(() => parseMountFlag("type=npipe,target=/c")).toThrow(/mount type "npipe" is not supported/);
    expect(() => parseMountFlag("type=bind,source=/h,target=/c,bogus=1")).toThrow(/unexpected key 'bogus'/);
    const f = parseRunFlags(["--mount", "type=bind,source=/h,target=/c", "--mount", "type=tmpfs,target=/t", "-v", "/a:/b", "busybox"]);
    expect([f.volumes, f.tmpfs]).toEqual([["/a:/b", "/h:/c"], ["/t"]]);
  });
  it("refuses a bad network name", () => expect(() => spec(["--network", "bad name!", "busybox"])).toThrow(/invalid network name/));
  it("enters a bridge endpoint's netns by default, with its hosts file bound read-only", () => {
    const o = buildSpec({ flags: parseRunFlags(["busybox"]), image, id: "f".repeat(64), rootfs: "/r", netnsDir: "/run/x/netns" });
    expect(o.unshare.net).toBe(false);
    expect(o.netPath).toBe(`/run/x/netns/${"f".repeat(64)}`);
    expect(o.binds).toContainEqual({ source: `/run/x/netns/${"f".repeat(64)}.hosts`, target: "/etc/hosts", readonly: true });
  });
  it("--network none makes a namespace with only lo, --dns writes resolv.conf", () => {
    const o = spec(["--network", "none", "--dns", "10.0.0.53", "busybox"]);
    expect(o.unshare.net).toBe(true);
    expect(o.netPath).toBeUndefined();
    expect(o.resolvConf).toBe("nameserver 10.0.0.53\n");
  });
  it("refuses bad ports with Docker's exit code", () => expect(() => spec(["-p", "99999:80", "busybox"])).toThrow(/ports are 1-65535/));
  it("host network keeps the host's UTS and net namespaces", () => {
    const o = spec(["--network", "host", "busybox"]);
    expect(o.unshare.net).toBe(false);
    expect(o.unshare.uts).toBe(false);
  });
  it("fails on no command", () => expect(() => buildSpec({ flags: parseRunFlags(["x"]), image: { config: {} }, id: "0".repeat(64), rootfs: "/r" })).toThrow(/No command specified/));
});
