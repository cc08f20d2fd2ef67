import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lsetxattr, makedev, mknod, S_IF } from "@box/sys";
import { mountOverlay, umountOverlay } from "./mount.js";
import { writeDiff } from "./diff.js";
import { readTar, type TarEntry } from "./testutil/tar.js";
import { cleanup, mountSkipReason, tempDir } from "./testutil/fixture.js";

const skip = mountSkipReason();
if (skip) console.warn(`diff tests skipped: ${skip}`);

async function diff(upper: string, opts?: { mtime?: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await writeDiff(upper, out, opts);
  return Buffer.concat(chunks);
}

function summary(entries: TarEntry[]): string[] {
  return entries.map((e) => `${e.type} ${e.name}${e.linkname ? " -> " + e.linkname : ""}`);
}

describe.skipIf(skip)("writeDiff of a real overlay upper (root)", () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir("diff");
  });
  afterEach(() => {
    const left = cleanup(dir);
    expect(left, `still mounted under ${dir}`).toEqual([]);
  });

  /** A lower, the changes a container makes through the overlay, and the upper they leave. */
  async function changedUpper(): Promise<string> {
    const d = (n: string) => {
      const p = path.join(dir, n);
      fs.mkdirSync(p, { recursive: true });
      return p;
    };
    const lower = d("lower");
    const upper = d("upper");
    const work = d("work");
    const m = d("merged");
    fs.mkdirSync(path.join(lower, "etc"));
    fs.writeFileSync(path.join(lower, "etc/gone"), "g");
    fs.writeFileSync(path.join(lower, "etc/gone2"), "g");
    fs.writeFileSync(path.join(lower, "etc/keep"), "k");
    fs.mkdirSync(path.join(lower, "opt/app"), { recursive: true });
    fs.writeFileSync(path.join(lower, "opt/app/old"), "old");
    fs.writeFileSync(path.join(lower, "modified"), "before");
    fs.writeFileSync(path.join(lower, "untouched"), "u");
    const other = d("other");
    mountOverlay({ lower: [lower, other], upper, work, target: m });
    try {
      // Two deletions: overlayfs makes their whiteouts links of one inode.
      fs.rmSync(path.join(m, "etc/gone"));
      fs.rmSync(path.join(m, "etc/gone2"));
      // A lower directory replaced by a new one: opaque.
      fs.rmSync(path.join(m, "opt/app"), { recursive: true });
      fs.mkdirSync(path.join(m, "opt/app"));
      fs.writeFileSync(path.join(m, "opt/app/new"), "new");
      fs.writeFileSync(path.join(m, "modified"), "after!");
      fs.writeFileSync(path.join(m, "added"), "added");
      // chown clears setuid, so it goes first.
      fs.chownSync(path.join(m, "added"), 1234, 300000);
      fs.chmodSync(path.join(m, "added"), 0o4755);
      fs.symlinkSync("../modified", path.join(m, "opt/link"));
      fs.writeFileSync(path.join(m, "hard-a"), "same inode");
      fs.linkSync(path.join(m, "hard-a"), path.join(m, "hard-b"));
      mknod(path.join(m, "null"), S_IF.CHR | 0o666, makedev(1, 3));
      fs.chmodSync(path.join(m, "null"), 0o666); // past the umask
      mknod(path.join(m, "fifo"), S_IF.FIFO | 0o600, 0n);
      lsetxattr(path.join(m, "added"), "user.bin", Buffer.from([0xff, 0x00, 0x80, 0x0a]));
      const long = path.join(m, "deep", "d".repeat(120), "é-" + "n".repeat(120));
      fs.mkdirSync(path.dirname(long), { recursive: true });
      fs.writeFileSync(long, "long");
      // A socket is no content.
      const srv = net.createServer();
      await new Promise<void>((r) => srv.listen(path.join(m, "sock"), r));
      await new Promise<void>((r) => srv.close(() => r()));
      if (!fs.existsSync(path.join(m, "sock"))) {
        // Node unlinked it on close; make one that stays.
        execFileSync("python3", ["-c", `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(m, "sock"))})`]);
      }
    } finally {
      umountOverlay(m);
    }
    return upper;
  }

  it("writes whiteouts, opaque markers, links, devices and xattrs as OCI expects", async () => {
    const upper = await changedUpper();
    expect(fs.lstatSync(path.join(upper, "sock")).isSocket()).toBe(true);
    const entries = readTar(await diff(upper));
    const longDir = `deep/${"d".repeat(120)}`;
    expect(summary(entries)).toEqual([
      "file added",
      "directory deep/",
      `directory ${longDir}/`,
      `file ${longDir}/é-${"n".repeat(120)}`,
      "directory etc/",
      "file etc/.wh.gone",
      "file etc/.wh.gone2",
      "fifo fifo",
      "file hard-a",
      "link hard-b -> hard-a",
      "file modified",
      "character-device null",
      "directory opt/",
      "directory opt/app/",
      "file opt/app/.wh..wh..opq",
      "file opt/app/new",
      "symlink opt/link -> ../modified",
    ]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    const get = (n: string): TarEntry => {
      const e = byName.get(n);
      if (!e) throw new Error(`no entry ${n}`);
      return e;
    };

    const added = get("added");
    expect(added.mode).toBe(0o4755);
    expect([added.uid, added.gid]).toEqual([1234, 300000]);
    expect(added.data.toString()).toBe("added");
    expect(Buffer.compare(added.xattrs["user.bin"] ?? Buffer.alloc(0), Buffer.from([0xff, 0x00, 0x80, 0x0a]))).toBe(0);
    expect(get("modified").data.toString()).toBe("after!");
    expect(get("hard-a").data.toString()).toBe("same inode");
    expect(get("hard-b").size).toBe(0);
    expect(get("null")).toMatchObject({ devmajor: 1, devminor: 3, mode: 0o666 });
    for (const wh of ["etc/.wh.gone", "etc/.wh.gone2", "opt/app/.wh..wh..opq"]) expect(get(wh).size).toBe(0);
    expect(get("etc/.wh.gone").mode).toBe(0o600);
    // overlayfs' own xattrs stay out of the layer.
    for (const e of entries) {
      expect(Object.keys(e.xattrs).filter((k) => k.startsWith("trusted.overlay.")), e.name).toEqual([]);
    }
    // The long, non-ASCII name came through a PAX path record.
    expect(get(`${longDir}/é-${"n".repeat(120)}`).pax.path).toBeDefined();
  });

  it("is byte-identical across runs with the same mtime clamp, and clamps", async () => {
    const upper = await changedUpper();
    const a = await diff(upper, { mtime: 1_000_000 });
    // Touching mtimes past the clamp changes nothing.
    fs.utimesSync(path.join(upper, "added"), new Date(), new Date());
    const b = await diff(upper, { mtime: 1_000_000 });
    expect(a.length).toBeGreaterThan(1024);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(readTar(a).every((e) => e.mtime === 1_000_000)).toBe(true);
    // Without a clamp the real mtimes show.
    const now = Math.floor(Date.now() / 1000);
    expect(readTar(await diff(upper)).find((e) => e.name === "added")?.mtime).toBeGreaterThan(now - 600);
  });

  it("is read by GNU tar the same way", async () => {
    const upper = await changedUpper();
    const file = path.join(dir, "layer.tar");
    fs.writeFileSync(file, await diff(upper, { mtime: 0 }));
    const listed = execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n");
    expect(listed).toEqual(readTar(fs.readFileSync(file)).map((e) => e.name));
    const out = path.join(dir, "x");
    fs.mkdirSync(out);
    execFileSync("tar", ["--xattrs", "--xattrs-include=*", "-xf", file, "-C", out]);
    expect(fs.readFileSync(path.join(out, "opt/app/new"), "utf8")).toBe("new");
    expect(fs.lstatSync(path.join(out, "hard-b")).ino).toBe(fs.lstatSync(path.join(out, "hard-a")).ino);
    expect(fs.statSync(path.join(out, "added")).gid).toBe(300000);
  });

  it("refuses an upper written with redirect_dir or metacopy", async () => {
    const upper = path.join(dir, "upper");
    fs.mkdirSync(path.join(upper, "moved"), { recursive: true });
    lsetxattr(path.join(upper, "moved"), "trusted.overlay.redirect", "/orig");
    await expect(diff(upper)).rejects.toThrow(`diff ${upper}`);
    await expect(diff(upper)).rejects.toSatisfy((e: Error) => /redirect_dir=off/.test(String((e as { cause?: Error }).cause?.message)));
  });

  it("fails on a missing upper", async () => {
    await expect(diff(path.join(dir, "nope"))).rejects.toThrow(/^stat .*nope: ENOENT \(no such file or directory\)$/);
  });
});
