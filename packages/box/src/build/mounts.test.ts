import { describe, expect, it } from "vitest";
import { parseMount, pathChain } from "./mounts.js";

describe("parseMount (BuildKit's RUN --mount)", () => {
  it("reads bind, cache and tmpfs mounts with their defaults", () => {
    expect(parseMount("target=/src")).toEqual({ type: "bind", target: "/src", readonly: true });
    expect(parseMount("type=bind,source=lib,dst=out,rw", "/w")).toEqual({ type: "bind", target: "/w/out", source: "lib", readonly: false });
    expect(parseMount("type=bind,from=build,src=/x,target=/x,readonly=false")).toEqual({ type: "bind", target: "/x", source: "/x", from: "build", readonly: false });
    expect(parseMount("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1,gid=2")).toEqual({
      type: "cache", target: "/root/.cache", readonly: false, id: "pip", sharing: "locked", mode: 0o700, uid: 1, gid: 2,
    });
    expect(parseMount("type=cache,target=/c,ro")).toMatchObject({ readonly: true });
    expect(parseMount("type=tmpfs,target=/t,size=64m")).toEqual({ type: "tmpfs", target: "/t", readonly: false, size: 64 << 20 });
    expect(parseMount('type=bind,"target=/a,b"')).toMatchObject({ target: "/a,b" });
  });

  it("refuses what it cannot do, naming why", () => {
    expect(() => parseMount("type=secret,id=x")).toThrow("--mount=type=secret is not supported by box build");
    expect(() => parseMount("type=ssh")).toThrow("--mount=type=ssh is not supported by box build");
    expect(() => parseMount("type=cache")).toThrow("mount destination (target) not set");
    expect(() => parseMount("type=volume,target=/x")).toThrow('unsupported mount type "volume"');
    expect(() => parseMount("target=/x,bogus=1")).toThrow("unexpected key 'bogus' in 'bogus=1'");
    expect(() => parseMount("type=tmpfs,target=/x,from=a")).toThrow("from is not valid for type=tmpfs");
    expect(() => parseMount("type=cache,target=/x,mode=999")).toThrow("invalid mode: 999");
    expect(() => parseMount("type=cache,target=/x,sharing=maybe")).toThrow('unsupported sharing value "maybe"');
    expect(() => parseMount("target=/x,ro=perhaps")).toThrow("invalid value for ro: perhaps");
    expect(() => parseMount("target=/")).toThrow("mount target cannot be /");
  });

  it("lists a target's paths from the top", () => {
    expect(pathChain("/var/cache/apt")).toEqual(["/var", "/var/cache", "/var/cache/apt"]);
  });
});
