// Volumes as Docker's local driver keeps them: -v NAME:/path made on first use and filled from
// the image, -v /path an anonymous volume that --rm and rm -v take away, and box volume's verbs;
// against the real kernel, with nothing left behind.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, harness, importBusybox, leaks, type Harness } from "./lib/harness.js";

let h: Harness;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
});

afterAll(async () => {
  await h?.cleanup();
});

const volumes = () => (existsSync(join(h.root, "volumes")) ? readdirSync(join(h.root, "volumes")).sort() : []);
const run = (...args: string[]) => h.box("run", "--network", "none", ...args);

describe("box volumes", () => {
  it("a named volume outlives its containers; a new one starts with what the image has at its target", async () => {
    expect(expectOk(await h.box("volume", "create", "data")).stdout).toBe("data\n");
    expectOk(await run("--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f"));
    expect(expectOk(await run("--rm", "-v", "data:/d:ro", "busybox", "sh", "-c", "cat /d/f; touch /d/g 2>/dev/null || echo read-only")).stdout).toBe("kept\nread-only\n");
    expect(readFileSync(join(h.root, "volumes", "data", "_data", "f"), "utf8")).toBe("kept\n");
    // Made by the run, filled from the image's /etc, owners and modes kept.
    expect(expectOk(await run("--rm", "-v", "etc:/etc", "busybox", "stat", "-c", "%u:%g %a", "/etc/passwd")).stdout).toBe("0:0 644\n");
    expect(statSync(join(h.root, "volumes", "etc", "_data", "passwd")).isFile()).toBe(true);
    // nocopy: an empty volume where the image has /home/app.
    expect(expectOk(await run("--rm", "-v", "empty:/home:nocopy", "busybox", "ls", "-A", "/home")).stdout).toBe("");
    expect(expectOk(await run("--rm", "-v", "home:/home", "busybox", "ls", "-A", "/home")).stdout).toBe("app\n");
    const ls = expectOk(await h.box("volume", "ls")).stdout;
    expect(ls).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+data\nlocal\s+empty\nlocal\s+etc\nlocal\s+home\n$/);
    const [v] = JSON.parse(expectOk(await h.box("volume", "inspect", "data")).stdout) as { Name: string; Driver: string; Mountpoint: string }[];
    expect(v).toMatchObject({ Name: "data", Driver: "local", Mountpoint: join(h.root, "volumes", "data", "_data") });
    expect(expectOk(await h.box("volume", "rm", "data", "etc", "empty", "home")).stdout).toBe("data\netc\nempty\nhome\n");
    expect(volumes()).toEqual([]);
    expect(formatLeaks(leaks(h))).toBe("");
  });

  it("an anonymous volume goes with --rm and rm -v; one in use is not removed; prune takes the unused", async () => {
    expectOk(await run("--rm", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/y"));
    expect(volumes()).toEqual([]);
    expectOk(await run("--name", "keep", "-v", "/scratch", "-v", "named:/n", "busybox", "sh", "-c", "echo x > /scratch/y"));
    const mounts = JSON.parse(expectOk(await h.box("inspect", "-f", "{{json .Mounts}}", "keep")).stdout) as { Type: string; Name: string; Destination: string }[];
    expect(mounts.map((m) => [m.Type, m.Destination])).toEqual([["volume", "/scratch"], ["volume", "/n"]]);
    const anon = mounts[0]!.Name;
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    const busy = expectCode(await h.box("volume", "rm", anon), 1);
    expect(busy.stderr.trim()).toMatch(new RegExp(`^box: remove ${anon}: volume is in use - \\[[0-9a-f]{64}\\]$`));
    // prune asks first; -f takes only anonymous volumes no container uses: none yet.
    expect(expectOk(await h.box("volume", "prune", { input: "" })).stderr).toContain("WARNING!");
    expectOk(await h.box("volume", "prune", "-f"));
    expect(volumes()).toEqual([anon, "named"].sort());
    // rm -v takes the anonymous one, never the named one.
    expectOk(await h.box("rm", "-v", "keep"));
    expect(volumes()).toEqual(["named"]);
    expectOk(await h.box("volume", "prune", "-f"));
    expect(volumes()).toEqual(["named"]);
    expect(expectOk(await h.box("volume", "prune", "-f", "-a")).stdout).toMatch(/^Deleted Volumes:\nnamed\n/);
    expect(volumes()).toEqual([]);
    expect(formatLeaks(leaks(h))).toBe("");
  });

  it("an image's VOLUME gets an anonymous volume, filled from the image, unless -v covers it", async () => {
    expectOk(await h.box("commit", "--change", "VOLUME /home", expectOk(await h.box("create", "--name", "base", "--network", "none", "busybox", "true")).stdout.trim(), "withvol:1"));
    expectOk(await h.box("rm", "base"));
    expect(expectOk(await run("--name", "uses", "withvol:1", "ls", "/home")).stdout).toBe("app\n");
    const mounts = JSON.parse(expectOk(await h.box("inspect", "-f", "{{json .Mounts}}", "uses")).stdout) as { Type: string; Destination: string }[];
    expect(mounts).toMatchObject([{ Type: "volume", Destination: "/home" }]);
    expectOk(await h.box("rm", "-v", "uses"));
    // Covered by -v: that volume, and no anonymous one.
    expectOk(await run("--rm", "-v", "mine:/home", "withvol:1", "true"));
    expect(volumes()).toEqual(["mine"]);
    expectOk(await h.box("volume", "rm", "mine"));
    expectOk(await h.box("rmi", "withvol:1"));
    expect(volumes()).toEqual([]);
  });

  it("fills a new volume through the image's own symlinks, never the host's files", async () => {
    // An image whose /vol is a symlink to /etc: the copy must read the image's /etc, not the host's.
    const tar = join(h.root, "symlinked.tar");
    const py = `import tarfile, io
with tarfile.open(${JSON.stringify(tar)}, "w") as t:
    for name, data in [("etc/marker", b"image\\n")]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    i = tarfile.TarInfo("vol"); i.type = tarfile.SYMTYPE; i.linkname = "/etc"; t.addfile(i)
`;
    expectOk(await h.run(["python3", "-c", py]));
    expectOk(await h.tool("mkroot", "import", "symlinked:1", tar));
    const mount = join(h.root, "volumes", "sv", "_data");
    // box create makes and fills the volume; the image has nothing to run, and need not.
    expectOk(await h.box("create", "--name", "sym", "--network", "none", "-v", "sv:/vol", "symlinked:1", "/nothing"));
    expect(readdirSync(mount)).toEqual(["marker"]);
    expect(readFileSync(join(mount, "marker"), "utf8")).toBe("image\n");
    expectOk(await h.box("rm", "sym"));
    expectOk(await h.tool("mkroot", "rm", "symlinked:1"));
    expectOk(await h.box("volume", "rm", "sv"));
    expect(volumes()).toEqual([]);
  });

  it("system df counts; system prune takes stopped containers, and with --volumes their unused anonymous volumes; running ones and named volumes stay", async () => {
    expectOk(await run("-d", "--name", "up", "-v", "/a1", "busybox", "sleep", "300"));
    expectOk(await run("--name", "down", "-v", "/a2", "-v", "kept:/k", "busybox", "true"));
    expect(expectOk(await h.box("system", "prune", { input: "" })).stderr).toMatch(/^WARNING! This will remove:\n {2}- all stopped containers\n/);
    expect(volumes()).toHaveLength(3);
    // df: two containers, one running; three volumes, all named by a container.
    const df = expectOk(await h.box("system", "df")).stdout.split("\n");
    expect(df[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df[1]).toMatch(/^Images\s+1\s+1\s+\S+\s+0B \(0%\)$/);
    expect(df[2]).toMatch(/^Containers\s+2\s+1\s/);
    expect(df[3]).toMatch(/^Local Volumes\s+3\s+3\s/);
    // ps -s: the writable layer, and with the image under it.
    expect(expectOk(await h.box("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}")).stdout).toMatch(/^(up|down) \d+(\.\d+)?k?B \(virtual \d+(\.\d+)?MB\)\n(up|down) \d+(\.\d+)?k?B \(virtual \d+(\.\d+)?MB\)\n$/);
    const r = expectOk(await h.box("system", "prune", "-f", "--volumes")).stdout;
    expect(r).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Volumes:\n[0-9a-f]{64}\n\n(Deleted build cache objects:\n(.*\n)*\n)?Total reclaimed space: \S+\n$/);
    expect(expectOk(await h.box("ps", "-a", "--format", "{{.Names}}")).stdout).toBe("up\n");
    // up's anonymous volume and the named one are left.
    expect(volumes()).toHaveLength(2);
    expect(volumes()).toContain("kept");
    expectOk(await h.box("rm", "-f", "-v", "up"));
    expectOk(await h.box("volume", "rm", "kept"));
    expect(volumes()).toEqual([]);
  });

  it("refuses bad names and unknown volumes in one line, and a failed run leaves no volume it made", async () => {
    const bad = expectCode(await run("--rm", "-v", "bad name:/x", "busybox", "true"), 125);
    expect(bad.stderr.trim()).toMatch(/^box: invalid volume specification: 'bad name:\/x': "bad name" includes invalid characters for a local volume name/);
    expect(expectCode(await h.box("volume", "rm", "nosuch"), 1).stderr.trim()).toBe("box: get nosuch: no such volume");
    expect(expectCode(await h.box("volume", "create", "-d", "nfs", "x"), 1).stderr).toMatch(/volume driver "nfs" is not supported/);
    // The run fails after its volume is made (a name in use): the volume goes again.
    expectOk(await run("--name", "taken", "busybox", "true"));
    expectCode(await run("--name", "taken", "-v", "fresh:/f", "busybox", "true"), 125);
    expect(volumes()).toEqual([]);
    expectOk(await h.box("rm", "taken"));
    expect(formatLeaks(leaks(h))).toBe("");
  });
});
