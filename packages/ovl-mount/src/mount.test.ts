import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MS, mount, umount2 } from "@box/sys";
import { mountOverlay, umountOverlay } from "./mount.js";
import { mountsUnder } from "./mountinfo.js";
import { cleanup, mountSkipReason, openFds, tempDir } from "./testutil/fixture.js";

const skip = mountSkipReason();
if (skip) console.warn(`mount tests skipped: ${skip}`);

function errno(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
}

function chain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as (Error & { cause?: unknown }) | undefined; e; e = e.cause as typeof e) parts.push(e.message);
  return parts.join(": ");
}

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

/** `n` lower layers under long paths, each with its own file and its index in "same". */
function makeLayers(dir: string, n: number): string[] {
  const lowers: string[] = [];
  for (let i = 0; i < n; i++) {
    // Long, like a layer store's sha256 directories: 150 of them are far past one page.
    const l = path.join(dir, "layers", `${i.toString().padStart(4, "0")}${"0123456789abcdef".repeat(4)}`, "diff");
    fs.mkdirSync(l, { recursive: true });
    fs.writeFileSync(path.join(l, `f${i}`), `${i}`);
    fs.writeFileSync(path.join(l, "same"), `${i}`);
    lowers.push(l);
  }
  return lowers;
}

describe.skipIf(skip)("mountOverlay (root, real kernel)", () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir("mount");
  });
  afterEach(() => {
    // Runs after a failed assertion too; nothing may stay mounted.
    const left = cleanup(dir);
    expect(left, `still mounted under ${dir}`).toEqual([]);
  });

  function stack() {
    const d = (n: string) => {
      const p = path.join(dir, n);
      fs.mkdirSync(p, { recursive: true });
      return p;
    };
    const top = d("top");
    const bottom = d("bottom");
    fs.writeFileSync(path.join(top, "same"), "top");
    fs.writeFileSync(path.join(bottom, "same"), "bottom");
    fs.writeFileSync(path.join(bottom, "only-bottom"), "b");
    fs.writeFileSync(path.join(top, "only-top"), "t");
    return { top, bottom, upper: d("upper"), work: d("work"), target: d("merged") };
  }

  for (const api of ["new", "legacy"] as const) {
    it(`merges two lowers top first under an upper (${api} API)`, () => {
      const s = stack();
      mountOverlay({ lower: [s.top, s.bottom], upper: s.upper, work: s.work, target: s.target }, { api });
      try {
        const [m] = mountsUnder(s.target);
        expect(m?.fstype).toBe("overlay");
        expect(m?.superOptions).toMatch(api === "new" ? /lowerdir\+=/ : /lowerdir=[^+]/);
        expect(fs.readdirSync(s.target).sort()).toEqual(["only-bottom", "only-top", "same"]);
        expect(fs.readFileSync(path.join(s.target, "same"), "utf8")).toBe("top");

        fs.writeFileSync(path.join(s.target, "same"), "written");
        fs.writeFileSync(path.join(s.target, "new"), "n");
        expect(fs.readFileSync(path.join(s.upper, "same"), "utf8")).toBe("written");
        expect(fs.readFileSync(path.join(s.upper, "new"), "utf8")).toBe("n");
        expect(fs.readFileSync(path.join(s.top, "same"), "utf8")).toBe("top");
        expect(fs.readFileSync(path.join(s.bottom, "same"), "utf8")).toBe("bottom");
        expect(fs.existsSync(path.join(s.top, "new"))).toBe(false);
      } finally {
        umountOverlay(s.target);
      }
      expect(mountsUnder(s.target)).toEqual([]);
    });
  }

  it("mounts read-only with --ro and without an upper (EROFS)", () => {
    const s = stack();
    mountOverlay({ lower: [s.top, s.bottom], upper: s.upper, work: s.work, target: s.target, readonly: true });
    try {
      expect(fs.readFileSync(path.join(s.target, "same"), "utf8")).toBe("top");
      expect(errno(() => fs.writeFileSync(path.join(s.target, "x"), "x"))).toBe("EROFS");
    } finally {
      umountOverlay(s.target);
    }
    mountOverlay({ lower: [s.top, s.bottom], target: s.target });
    try {
      expect(fs.readFileSync(path.join(s.target, "only-bottom"), "utf8")).toBe("b");
      expect(errno(() => fs.writeFileSync(path.join(s.target, "same"), "x"))).toBe("EROFS");
    } finally {
      umountOverlay(s.target);
    }
    expect(fs.readdirSync(s.upper)).toEqual([]);
  });

  it("bind-mounts a single lower read-only", () => {
    const s = stack();
    mountOverlay({ lower: [s.bottom], target: s.target });
    try {
      expect(fs.readdirSync(s.target).sort()).toEqual(["only-bottom", "same"]);
      expect(errno(() => fs.writeFileSync(path.join(s.target, "same"), "x"))).toBe("EROFS");
      expect(fs.readFileSync(path.join(s.bottom, "same"), "utf8")).toBe("bottom");
    } finally {
      umountOverlay(s.target);
    }
  });

  for (const api of ["new", "legacy"] as const) {
    it(`takes paths with ':' and ',' (${api} API)`, () => {
      const s = stack();
      const odd = path.join(dir, "odd:name,with\\sep");
      fs.mkdirSync(odd);
      fs.writeFileSync(path.join(odd, "odd"), "o");
      const upper = path.join(dir, "up,per:x");
      fs.mkdirSync(upper);
      mountOverlay({ lower: [odd, s.bottom], upper, work: s.work, target: s.target }, { api });
      try {
        expect(fs.readdirSync(s.target).sort()).toEqual(["odd", "only-bottom", "same"]);
        fs.writeFileSync(path.join(s.target, "w"), "w");
        expect(fs.readFileSync(path.join(upper, "w"), "utf8")).toBe("w");
      } finally {
        umountOverlay(s.target);
      }
    });
  }

  for (const api of ["new", "legacy"] as const) {
    it(`stacks 150 lowers with paths far past one page (${api} API)`, () => {
      const lowers = makeLayers(dir, 150);
      expect(lowers.join(":").length).toBeGreaterThan(4096 * 3);
      const target = path.join(dir, "merged");
      const upper = path.join(dir, "upper");
      const work = path.join(dir, "work");
      for (const d of [target, upper, work]) fs.mkdirSync(d);
      const cwd = process.cwd();
      mountOverlay({ lower: lowers, upper, work, target }, { api });
      try {
        // The legacy path changes the cwd for the mount call and must restore it.
        expect(process.cwd()).toBe(cwd);
        const [m] = mountsUnder(target);
        if (api === "new") expect(m?.superOptions.match(/lowerdir\+=/g)?.length).toBe(150);
        else expect(m?.superOptions).toMatch(/lowerdir=0:1:2:/);
        const names = fs.readdirSync(target);
        expect(names.length).toBe(151);
        for (let i = 0; i < 150; i++) expect(names).toContain(`f${i}`);
        expect(fs.readFileSync(path.join(target, "same"), "utf8")).toBe("0");
        expect(fs.readFileSync(path.join(target, "f149"), "utf8")).toBe("149");
        fs.writeFileSync(path.join(target, "f149"), "changed");
        expect(fs.readFileSync(path.join(upper, "f149"), "utf8")).toBe("changed");
      } finally {
        umountOverlay(target);
      }
      // The short symlinks of the legacy path are gone.
      expect(fs.readdirSync("/tmp").filter((n) => n.startsWith("ovl-mount-") && !n.startsWith("ovl-mount-test"))).toEqual([]);
    });
  }

  it("fails before acting when a directory is missing", () => {
    const s = stack();
    const err = thrown(() => mountOverlay({ lower: [s.top, path.join(dir, "nope")], target: s.target }));
    expect(chain(err)).toBe(`mount ${s.target}: stat ${path.join(dir, "nope")}: ENOENT (no such file or directory)`);
    const err2 = thrown(() => mountOverlay({ lower: [s.top, s.bottom], target: path.join(s.top, "same") }));
    expect(chain(err2)).toMatch(/target .*same: not a directory/);
  });

  it("reports the kernel's reason, leaves nothing mounted and closes its fds", () => {
    const s = stack();
    // upper and work on one file system (checkPaths passes) but under two
    // mounts: overlayfs accepts every fsconfig and refuses at create time.
    const bind = path.join(dir, "bind");
    fs.mkdirSync(bind);
    mount({ source: s.work, target: bind, flags: MS.BIND });
    try {
      const before = openFds();
      const err = thrown(() =>
        mountOverlay({ lower: [s.top, s.bottom], upper: s.upper, work: bind, target: s.target }, { api: "new" }),
      );
      expect(chain(err)).toBe(
        `mount ${s.target}: fsconfig FSCONFIG_CMD_CREATE: EINVAL (invalid argument); overlayfs logs the reason to the kernel log (dmesg)`,
      );
      expect(openFds()).toEqual(before);
      expect(mountsUnder(s.target)).toEqual([]);
    } finally {
      umount2(bind);
    }
  });

  it("names the directory fsconfig refused", () => {
    const s = stack();
    // What gets past checkPaths but not fsconfig: an upper on a read-only
    // mount (here a read-only bind of the bottom layer, made by the bind path).
    const ro = path.join(dir, "ro");
    fs.mkdirSync(ro);
    fs.mkdirSync(path.join(s.bottom, "up"));
    mountOverlay({ lower: [s.bottom], target: ro });
    try {
      const upper = path.join(ro, "up");
      const before = openFds();
      const err = thrown(() =>
        mountOverlay({ lower: [s.top], upper, work: s.work, target: s.target }, { api: "new" }),
      );
      expect(chain(err)).toMatch(new RegExp(`^mount ${s.target}: fsconfig upperdir=${upper}: E[A-Z]+ \\(.*\\)`));
      expect(openFds()).toEqual(before);
      expect(mountsUnder(s.target)).toEqual([]);
    } finally {
      umountOverlay(ro);
    }
  });

  it("refuses to unmount what is not a mount point", () => {
    const s = stack();
    expect(chain(thrown(() => umountOverlay(s.target)))).toBe(`umount ${s.target}: not a mount point`);
    expect(chain(thrown(() => umountOverlay(path.join(dir, "nope"))))).toMatch(/^umount .*nope: lstat .*nope: ENOENT \(no such file or directory\)$/);
  });
});
