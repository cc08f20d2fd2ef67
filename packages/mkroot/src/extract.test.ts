// Safe extraction: a hostile corpus built here with tar-stream, run through the store as an import
// would be. Every test proves the host outside the layer is untouched, and failing ones that the
// store holds nothing (no blob, layer, staging dir or index entry).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lgetxattr, lsetxattr } from "@box/sys";
import { entryPath } from "./extract.js";
import { splitRecords } from "./pax.js";
import { Store, type Image } from "./store.js";
import { fingerprint, makeTar, snapshot, stream, tempRoot, type TarItem } from "./testutil.js";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let outside: string;
let sentinel: string;
let before: Map<string, string>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempRoot());
  store = new Store(join(dir, "store"));
  outside = join(dir, "outside");
  mkdirSync(outside);
  sentinel = join(outside, "sentinel");
  writeFileSync(sentinel, "untouched\n");
  before = snapshot(outside);
});

afterEach(async () => {
  // Whatever the test did, nothing outside the store may have changed.
  expect(snapshot(outside)).toEqual(before);
  await cleanup();
});

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

async function importItems(items: TarItem[]): Promise<Image> {
  return store.importTar("test", stream(await makeTar(items)));
}

/** The store after a failed import: the layout may exist, but it holds nothing. */
function expectStoreClean(): void {
  const root = store.root;
  if (!existsSync(root)) return;
  expect(readdirSync(join(root, "tmp"))).toEqual([]);
  expect(readdirSync(join(root, "layers"))).toEqual([]);
  expect(readdirSync(join(root, "images", "blobs", "sha256"))).toEqual([]);
  const index = JSON.parse(readFileSync(join(root, "images", "index.json"), "utf8")) as { manifests: unknown[] };
  expect(index.manifests).toEqual([]);
}

async function expectRejected(items: TarItem[] | Buffer, message: RegExp): Promise<void> {
  const input = Buffer.isBuffer(items) ? items : await makeTar(items);
  const err = await store.importTar("test", stream(input)).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, "the import should have failed").toBeInstanceOf(Error);
  expect(chain(err as Error)).toMatch(message);
  expectStoreClean();
}

function chain(e: Error): string {
  const parts: string[] = [];
  for (let c: unknown = e; c instanceof Error; c = c.cause) parts.push(c.message);
  return parts.join(": ");
}

const file = (name: string, data: string | Buffer = "x", extra: Partial<TarItem["header"]> = {}): TarItem => ({ header: { name, type: "file", ...extra }, data });
const dirEntry = (name: string, extra: Partial<TarItem["header"]> = {}): TarItem => ({ header: { name, type: "directory", ...extra } });

describe("entryPath", () => {
  it("drops leading slashes and dots, and refuses to climb out", () => {
    expect(entryPath("/etc/passwd")).toBe("etc/passwd");
    expect(entryPath("./a/./b/")).toBe("a/b");
    expect(entryPath("a/../b")).toBe("b");
    expect(entryPath("./")).toBe("");
    expect(entryPath("//")).toBe("");
    expect(() => entryPath("../x")).toThrow(/climbs out/);
    expect(() => entryPath("a/../../x")).toThrow(/climbs out/);
    expect(() => entryPath("/../etc/x")).toThrow(/climbs out/);
  });
});

describe("safe extraction", () => {
  it("extracts a small tree with owners, modes and mtimes kept", async () => {
    const img = await importItems([
      dirEntry("./", { mode: 0o755 }),
      dirEntry("etc", { mode: 0o750, uid: 5, gid: 6, mtime: new Date(1_500_000_000_000) }),
      file("etc/hosts", "127.0.0.1 localhost\n", { mode: 0o640, uid: 7, gid: 8, mtime: new Date(1_400_000_000_000) }),
      { header: { name: "etc/link", type: "symlink", linkname: "/etc/hosts", uid: 9, gid: 10, mtime: new Date(1_300_000_000_000) } },
    ]);
    const layer = img.layers[0] as string;
    expect(img.layers).toHaveLength(1);
    const etc = statSync(join(layer, "etc"));
    expect([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs]).toEqual([0o750, 5, 6, 1_500_000_000_000]);
    const hosts = statSync(join(layer, "etc/hosts"));
    expect([hosts.mode & 0o7777, hosts.uid, hosts.gid, hosts.mtimeMs]).toEqual([0o640, 7, 8, 1_400_000_000_000]);
    expect(readFileSync(join(layer, "etc/hosts"), "utf8")).toBe("127.0.0.1 localhost\n");
    const link = lstatSync(join(layer, "etc/link"));
    expect([link.isSymbolicLink(), link.uid, link.gid, link.mtimeMs]).toEqual([true, 9, 10, 1_300_000_000_000]);
    // Stored verbatim, never resolved on the host.
    expect(readlinkSync(join(layer, "etc/link"))).toBe("/etc/hosts");
  });

  it("makes absolute paths relative to the layer", async () => {
    const unique = `mkroot-abs-${randomBytes(6).toString("hex")}`;
    const img = await importItems([file(`/${unique}`, "abs"), file(`/tmp/${unique}`, "abs2")]);
    expect(readFileSync(join(img.layers[0] as string, unique), "utf8")).toBe("abs");
    expect(readFileSync(join(img.layers[0] as string, "tmp", unique), "utf8")).toBe("abs2");
    expect(existsSync(`/${unique}`)).toBe(false);
    expect(existsSync(`/tmp/${unique}`)).toBe(false);
  });

  it("rejects ../../ that climbs out of the layer", async () => {
    await expectRejected([file("ok", "fine"), file("../../etc/x", "evil")], /entry "\.\.\/\.\.\/etc\/x": path .* climbs out of the layer root/);
    expect(existsSync(join(store.root, "etc", "x"))).toBe(false);
    expect(existsSync(join(store.root, "tmp", "etc"))).toBe(false);
  });

  it("rejects a symlink to / followed by a file written through it", async () => {
    const unique = `mkroot-through-${randomBytes(6).toString("hex")}`;
    await expectRejected(
      [{ header: { name: "root", type: "symlink", linkname: "/" } }, file(`root/tmp/${unique}`, "evil")],
      /entry "root\/tmp\/mkroot-through-[0-9a-f]+": parent "root" is a symlink; refusing to write through it/,
    );
    expect(existsSync(`/tmp/${unique}`)).toBe(false);
  });

  it("rejects a symlink to a host directory followed by a write into it (sentinel)", async () => {
    await expectRejected(
      [{ header: { name: "link", type: "symlink", linkname: outside } }, file("link/sentinel", "evil")],
      /parent "link" is a symlink/,
    );
    await expectRejected(
      [{ header: { name: "link", type: "symlink", linkname: outside } }, dirEntry("link/newdir")],
      /parent "link" is a symlink/,
    );
    await expectRejected(
      [{ header: { name: "link", type: "symlink", linkname: outside } }, file("link/.wh.sentinel", "")],
      /parent "link" is a symlink/,
    );
    expect(readFileSync(sentinel, "utf8")).toBe("untouched\n");
  });

  it("rejects a symlink to /etc followed by link/passwd", async () => {
    const passwd = fingerprint("/etc/passwd");
    await expectRejected(
      [{ header: { name: "link", type: "symlink", linkname: "/etc" } }, file("link/passwd", "evil::0:0::/:/bin/sh\n")],
      /entry "link\/passwd": parent "link" is a symlink/,
    );
    expect(fingerprint("/etc/passwd")).toBe(passwd);
  });

  it("replaces a symlink given again as a file instead of writing through it", async () => {
    const img = await importItems([{ header: { name: "s", type: "symlink", linkname: sentinel } }, file("s", "mine")]);
    const s = join(img.layers[0] as string, "s");
    expect(lstatSync(s).isFile()).toBe(true);
    expect(readFileSync(s, "utf8")).toBe("mine");
  });

  it("rejects a hard link to a host file", async () => {
    const passwd = fingerprint("/etc/passwd");
    await expectRejected(
      [{ header: { name: "pw", type: "link", linkname: "/etc/passwd" } }],
      /entry "pw": hard link target "\/etc\/passwd" is not a regular file extracted earlier in this layer/,
    );
    await expectRejected([{ header: { name: "s", type: "link", linkname: sentinel } }], /hard link target/);
    expect(fingerprint("/etc/passwd")).toBe(passwd);
  });

  it("rejects a hard link to ../x and to a directory or symlink in the layer", async () => {
    await expectRejected([{ header: { name: "h", type: "link", linkname: "../x" } }], /entry "h": path "\.\.\/x" climbs out/);
    await expectRejected([dirEntry("d"), { header: { name: "h", type: "link", linkname: "d" } }], /hard link target "d" is not a regular file/);
    await expectRejected(
      [{ header: { name: "s", type: "symlink", linkname: sentinel } }, { header: { name: "h", type: "link", linkname: "s" } }],
      /hard link target "s" is not a regular file/,
    );
  });

  it("makes hard links to files extracted earlier", async () => {
    const img = await importItems([file("a", "shared"), { header: { name: "b/c", type: "link", linkname: "/a" } }]);
    const layer = img.layers[0] as string;
    expect(statSync(join(layer, "b/c")).ino).toBe(statSync(join(layer, "a")).ino);
    expect(statSync(join(layer, "a")).nlink).toBe(2);
  });

  it("creates device nodes and fifos with mknod", async () => {
    const img = await importItems([
      { header: { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 } },
      { header: { name: "dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660, gid: 6 } },
      { header: { name: "run/fifo", type: "fifo", mode: 0o620, uid: 3 } },
    ]);
    const layer = img.layers[0] as string;
    const nul = lstatSync(join(layer, "dev/null"));
    expect([nul.isCharacterDevice(), major(nul.rdev), minor(nul.rdev), nul.mode & 0o7777]).toEqual([true, 1, 3, 0o666]);
    const loop = lstatSync(join(layer, "dev/loop0"));
    expect([loop.isBlockDevice(), major(loop.rdev), minor(loop.rdev), loop.gid]).toEqual([true, 7, 0, 6]);
    const fifo = lstatSync(join(layer, "run/fifo"));
    expect([fifo.isFIFO(), fifo.mode & 0o7777, fifo.uid]).toEqual([true, 0o620, 3]);
  });

  it("keeps setuid, setgid and sticky bits, also on files owned by another user", async () => {
    const img = await importItems([
      file("bin/su", "#!", { mode: 0o4755, uid: 0 }),
      file("bin/sg", "#!", { mode: 0o2755, uid: 1000, gid: 50 }),
      dirEntry("tmp", { mode: 0o1777 }),
    ]);
    const layer = img.layers[0] as string;
    expect(statSync(join(layer, "bin/su")).mode & 0o7777).toBe(0o4755);
    const sg = statSync(join(layer, "bin/sg"));
    expect([sg.mode & 0o7777, sg.uid, sg.gid]).toEqual([0o2755, 1000, 50]);
    expect(statSync(join(layer, "tmp")).mode & 0o7777).toBe(0o1777);
  });

  it("turns OCI whiteouts into overlay whiteouts and opaque directories", async () => {
    const img = await importItems([
      dirEntry("a"),
      file("a/.wh.gone", ""),
      file("b/.wh..wh..opq", ""),
      file("b/kept", "k"),
      file(".wh.top", ""),
      file("c/.wh..wh.plnk", ""),
    ]);
    const layer = img.layers[0] as string;
    const gone = lstatSync(join(layer, "a/gone"));
    expect([gone.isCharacterDevice(), major(gone.rdev), minor(gone.rdev)]).toEqual([true, 0, 0]);
    expect(existsSync(join(layer, "a/.wh.gone"))).toBe(false);
    expect(lstatSync(join(layer, "top")).isCharacterDevice()).toBe(true);
    expect(lgetxattr(join(layer, "b"), "trusted.overlay.opaque")?.toString()).toBe("y");
    expect(existsSync(join(layer, "b/.wh..wh..opq"))).toBe(false);
    expect(readFileSync(join(layer, "b/kept"), "utf8")).toBe("k");
    // AUFS bookkeeping is skipped, as Docker does.
    expect(existsSync(join(layer, "c/.wh..wh.plnk"))).toBe(false);
  });

  it("lets a later entry replace an earlier one of another kind", async () => {
    const img = await importItems([
      file("x", "first"),
      file("x", "second"),
      file("d/inner", "gone"),
      file("d", "now a file"),
      file("f", "was a file"),
      dirEntry("f", { mode: 0o700 }),
      file("f/inner", "in"),
      dirEntry("m", { mode: 0o755 }),
      file("m/keep", "kept"),
      dirEntry("m", { mode: 0o711 }),
      file("w", "whited out later"),
      file(".wh.w", ""),
    ]);
    const layer = img.layers[0] as string;
    expect(readFileSync(join(layer, "x"), "utf8")).toBe("second");
    expect(readFileSync(join(layer, "d"), "utf8")).toBe("now a file");
    expect(statSync(join(layer, "f")).isDirectory()).toBe(true);
    expect(readFileSync(join(layer, "f/inner"), "utf8")).toBe("in");
    expect(readFileSync(join(layer, "m/keep"), "utf8")).toBe("kept");
    expect(statSync(join(layer, "m")).mode & 0o7777).toBe(0o711);
    expect(lstatSync(join(layer, "w")).isCharacterDevice()).toBe(true);
  });

  it("extracts a path 200 directories deep", async () => {
    const deep = Array.from({ length: 200 }, (_, i) => `d${i % 10}`).join("/");
    const img = await importItems([file(`${deep}/leaf`, "deep")]);
    expect(readFileSync(join(img.layers[0] as string, deep, "leaf"), "utf8")).toBe("deep");
  });

  it("streams a large mostly-empty file and leaves the zeros as holes", async () => {
    const size = 16 * 1024 * 1024;
    const data = Buffer.alloc(size);
    data.write("head", 0);
    data.write("tail", size - 4);
    randomBytes(4096).copy(data, 8 * 1024 * 1024);
    const img = await importItems([file("disk.img", data, { mode: 0o600 })]);
    const path = join(img.layers[0] as string, "disk.img");
    const st = statSync(path);
    expect(st.size).toBe(size);
    expect(createHash("sha256").update(readFileSync(path)).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(st.blocks * 512).toBeLessThan(size / 2);
    expect((await store.list())[0]?.size).toBe(size);
  });

  it("applies xattrs from SCHILY.xattr PAX records", async () => {
    const img = await importItems([file("x", "x", { pax: { "SCHILY.xattr.user.note": "hello" } } as never)]);
    expect(lgetxattr(join(img.layers[0] as string, "x"), "user.note")?.toString()).toBe("hello");
  });

  it("keeps binary xattr values byte for byte (GNU tar --xattrs)", async () => {
    const src = join(dir, "src");
    mkdirSync(src);
    writeFileSync(join(src, "bin"), "data");
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00, 0x2d]);
    lsetxattr(join(src, "bin"), "user.binary", value);
    const tarPath = join(dir, "x.tar");
    execFileSync("tar", ["--xattrs", "--xattrs-include=user.*", "--format=posix", "-C", src, "-cf", tarPath, "bin"]);
    const img = await store.importTar("test", stream(readFileSync(tarPath)));
    expect(lgetxattr(join(img.layers[0] as string, "bin"), "user.binary")).toEqual(value);
  });

  it("reads PAX records as bytes", () => {
    const rec = (k: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from("\n")]);
      let len = body.length + 1;
      if (String(len).length + body.length !== len) len = String(len + 1).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const bin = Buffer.from([0xff, 0x00, 0x0a, 0x3d]);
    const m = splitRecords(Buffer.concat([rec("path", Buffer.from("a/b")), rec("SCHILY.xattr.user.b", bin)]));
    expect(m.get("path")?.toString()).toBe("a/b");
    expect(m.get("SCHILY.xattr.user.b")).toEqual(bin);
  });

  it("accepts gzip input and hashes the uncompressed tar for the diff_id", async () => {
    const tar = await makeTar([file("hello", "world")]);
    const gz = gzipSync(tar);
    const img = await store.importTar("gz", stream(gz));
    expect(img.config.rootfs.diff_ids).toEqual([`sha256:${createHash("sha256").update(tar).digest("hex")}`]);
    const manifest = JSON.parse(readFileSync(store.blobPath(img.digest), "utf8")) as { layers: Array<{ digest: string; mediaType: string }> };
    expect(manifest.layers[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(manifest.layers[0]?.digest).toBe(`sha256:${createHash("sha256").update(gz).digest("hex")}`);
    // The blob is the input as given.
    expect(readFileSync(store.blobPath(manifest.layers[0]?.digest as string))).toEqual(gz);
    expect(readFileSync(join(img.layers[0] as string, "hello"), "utf8")).toBe("world");
  });

  it("fails cleanly on a truncated tar, naming the entry", async () => {
    const tar = await makeTar([file("first", "1"), file("big", Buffer.alloc(100_000, 7))]);
    await expectRejected(tar.subarray(0, 1024 + 512 + 50_000), /entry "big": unexpected end of data: the tar is truncated/);
    await expectRejected(tar.subarray(0, 1024 + 100), /unexpected end of data/);
  });

  it("fails cleanly on a corrupt header after good entries, naming the last good one", async () => {
    const tar = Buffer.from(await makeTar([file("first", "1"), file("second", "2")]));
    tar.fill(0x41, 1024, 1024 + 100); // the second header's name field: its checksum no longer holds
    await expectRejected(tar, /corrupt tar: invalid tar header after entry "first"/);
  });

  it("fails cleanly on a truncated gzip", async () => {
    const gz = gzipSync(await makeTar([file("big", randomBytes(200_000))]));
    await expectRejected(gz.subarray(0, gz.length / 2), /unexpected end of file|truncated/i);
  });

  it("fails cleanly on garbage", async () => {
    await expectRejected(randomBytes(4096), /not a tar archive: invalid tar header/i);
    await expectRejected(Buffer.from("hello world\n"), /unexpected end of data/);
    await expectRejected(Buffer.alloc(0), /empty input/);
    await expectRejected(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9]), /gzip/);
  });

  it("refuses other compressions by name", async () => {
    await expectRejected(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /zstd-compressed input is not supported: decompress it first \(zstd -d\)/);
    await expectRejected(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]), /xz-compressed/);
    await expectRejected(Buffer.from("BZh91AY&SY"), /bzip2-compressed/);
  });

  it("fails cleanly when a bad entry comes after good ones", async () => {
    await expectRejected(
      [dirEntry("etc"), file("etc/a", "a"), file("etc/b", Buffer.alloc(300_000, 1)), { header: { name: "bad", type: "link", linkname: "nowhere" } }],
      /entry "bad": hard link target "nowhere"/,
    );
  });

  it("refuses a non-directory as the layer root", async () => {
    await expectRejected([{ header: { name: "./", type: "symlink", linkname: "/" } }], /entry "\.\/": a symlink cannot be the layer root/);
    await expectRejected([{ header: { name: ".", type: "fifo" } }], /a device or fifo cannot be the layer root/);
  });
});
