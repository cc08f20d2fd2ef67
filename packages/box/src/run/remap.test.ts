import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freeRange, idMapOf, parseSubIds, remapSetting, resolveRemap } from "./remap.js";

describe("subordinate id ranges", () => {
  it("parses /etc/subuid lines and skips malformed ones", () => {
    expect(parseSubIds("alice:100000:65536\n# comment\nbob:x:1\n1001:200000:10\n")).toEqual([
      { owner: "alice", start: 100000, count: 65536 },
      { owner: "1001", start: 200000, count: 10 },
    ]);
  });

  it("maps a user's ranges, by name or uid, one after the other from container id 0 (Docker's idtools)", () => {
    const r = parseSubIds("alice:100000:1000\nbob:300000:65536\n1001:500000:2000\n");
    expect(idMapOf(r, "alice", 1001)).toEqual([
      { inside: 0, outside: 100000, count: 1000 },
      { inside: 1000, outside: 500000, count: 2000 },
    ]);
    expect(idMapOf(r, "carol", 7)).toEqual([]);
  });

  it("finds the first free 65536-id range at or above 100000", () => {
    expect(freeRange([])).toBe(100000);
    expect(freeRange(parseSubIds("a:100000:65536\nb:165536:65536\n"))).toBe(231072);
    expect(freeRange(parseSubIds("a:150000:10\n"))).toBe(150010);
    expect(freeRange(parseSubIds("a:300000:65536\n"))).toBe(100000);
  });
});

describe("resolveRemap", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const files = () => {
    dir = mkdtempSync(join(tmpdir(), "remap-"));
    const f = { passwd: join(dir, "passwd"), group: join(dir, "group"), subuid: join(dir, "subuid"), subgid: join(dir, "subgid") };
    writeFileSync(f.passwd, "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nnoranges:x:1002:1002::/:/bin/sh\n");
    writeFileSync(f.group, "root:x:0:\nalice:x:1001:\nstaff:x:50:\n");
    writeFileSync(f.subuid, "alice:100000:65536\n");
    writeFileSync(f.subgid, "alice:100000:65536\nstaff:400000:65536\n");
    return f;
  };

  it("takes USER, USER:GROUP and UID", () => {
    const f = files();
    expect(resolveRemap("alice", dir, f)).toMatchObject({ user: "alice", group: "alice", uidMap: [{ inside: 0, outside: 100000, count: 65536 }] });
    expect(resolveRemap("alice:staff", dir, f).gidMap).toEqual([{ inside: 0, outside: 400000, count: 65536 }]);
    expect(resolveRemap("1001", dir, f).user).toBe("alice");
  });

  it("names what is missing", () => {
    const f = files();
    expect(() => resolveRemap("bob", dir, f)).toThrow("--userns-remap bob: no user named bob");
    expect(() => resolveRemap("noranges", dir, f)).toThrow(`no subordinate uid range for noranges in ${f.subuid}`);
    expect(() => resolveRemap("a:b:c", dir, f)).toThrow("want default, USER, USER:GROUP, UID or UID:GID");
  });

  it("lets --userns=host win over the flag and the environment; refuses other --userns values", () => {
    expect(remapSetting(undefined, undefined, "default")).toBe("default");
    expect(remapSetting(undefined, "alice", "default")).toBe("alice");
    expect(remapSetting("host", "alice", "default")).toBeUndefined();
    expect(() => remapSetting("private", undefined, undefined)).toThrow('invalid --userns: private (only "host" is supported)');
  });
});
