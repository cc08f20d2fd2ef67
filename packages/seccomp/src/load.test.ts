import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadFilter } from "./load.js";
import { DEFAULT_PROFILE_PATH } from "./profile.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "seccomp-cache-"));
  dirs.push(d);
  return d;
};

describe("loadFilter's cache", () => {
  it("gives the program it would compile, and keeps one file per profile and capability set", () => {
    const cacheDir = join(tmp(), "cache");
    const fresh = loadFilter(DEFAULT_PROFILE_PATH, { caps: 0xa80425fbn });
    const first = loadFilter(DEFAULT_PROFILE_PATH, { caps: 0xa80425fbn, cacheDir });
    const second = loadFilter(DEFAULT_PROFILE_PATH, { caps: 0xa80425fbn, cacheDir });
    expect(first.equals(fresh)).toBe(true);
    expect(second.equals(fresh)).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(1);
    const withAdmin = loadFilter(DEFAULT_PROFILE_PATH, { caps: 0xa80425fbn | (1n << 21n), cacheDir });
    expect(readdirSync(cacheDir)).toHaveLength(2);
    expect(withAdmin.equals(fresh)).toBe(false);
  });

  it("does not serve a program compiled from another profile's bytes", () => {
    const d = tmp();
    const cacheDir = join(d, "cache");
    const profile = join(d, "p.json");
    writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] }));
    const a = loadFilter(profile, { cacheDir });
    writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["rmdir"], action: "SCMP_ACT_ERRNO" }] }));
    const b = loadFilter(profile, { cacheDir });
    expect(a.equals(b)).toBe(false);
    expect(b.equals(loadFilter(profile))).toBe(true);
  });
});
