import { describe, expect, it } from "vitest";
import { resolveIdentity } from "./passwd.js";

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const group = "root:x:0:\nstaff:x:50:app\napp:x:1000:\n";

describe("resolveIdentity", () => {
  it("defaults to root", () => expect(resolveIdentity(undefined, undefined, passwd, group)).toEqual({ uid: 0, gid: 0, groups: [0], home: "/root" }));
  it("resolves a name with its groups", () =>
    expect(resolveIdentity("app", undefined, passwd, group)).toEqual({ uid: 1000, gid: 1000, groups: [1000, 50], home: "/home/app" }));
  it("takes numbers that are not in passwd", () => expect(resolveIdentity("4242", "7", passwd, group)).toMatchObject({ uid: 4242, gid: 7, home: "/" }));
  it("names an unknown user", () => expect(() => resolveIdentity("ghost", undefined, passwd, group)).toThrow(/unable to find user ghost/));
  it("names an unknown group", () => expect(() => resolveIdentity("app", "ghosts", passwd, group)).toThrow(/unable to find group ghosts/));
});
