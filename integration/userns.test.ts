// --userns-remap: root in the container is an unprivileged, subordinate uid
// on the host; the image's files still show as root's inside (idmapped
// layers); exec, kill, commit and the opt-out work as with Docker.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, harness, importBusybox, type Harness } from "./lib/harness.js";
import { hostCanBridge } from "./lib/network.js";

let h: Harness;
// The tests run with --network none but one, which also takes a remapped container onto a
// bridge where the host has iproute2 and nftables for it.
const BRIDGE = hostCanBridge() ? [] : ["--network", "none"];
/** Whether this file made the box user (and so removes it again). */
let madeUser = false;

function subStart(file: string): number | undefined {
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("box:"));
  return line ? Number(line.split(":")[1]) : undefined;
}

/** The box user's first subordinate uid and gid (once a run made the user). */
function base(): { uid: number; gid: number } {
  return { uid: subStart("/etc/subuid") ?? -1, gid: subStart("/etc/subgid") ?? -1 };
}

function hostIds(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]), gid: Number(/^Gid:\s+(\d+)/m.exec(status)![1]) };
}

beforeAll(async () => {
  madeUser = spawnSync("id", ["box"]).status !== 0;
  h = await harness();
  await importBusybox(h);
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
  if (madeUser) spawnSync("userdel", ["box"]);
});

describe("box run --userns-remap", () => {
  it("default makes the box user with a free range, and root inside is that range's first id outside", async () => {
    const r = expectOk(await h.box("run", "--network", "none", "--rm", "--userns-remap=default", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin/busybox /etc/passwd; touch /made && stat -c %u /made"));
    const uid = subStart("/etc/subuid");
    const gid = subStart("/etc/subgid");
    expect(uid, "a subuid range for box").toBeDefined();
    expect(gid, "a subgid range for box").toBeDefined();
    const lines = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    expect(lines[0]).toBe("0");
    expect(lines[1]).toBe(`0 ${uid} 65536`);
    expect(lines[2]).toBe(`0 ${gid} 65536`);
    // The image's files, owned by 0 in the layer, are root's inside: idmapped layers.
    expect(lines[3]).toBe("0:0");
    expect(lines[4]).toBe("0:0");
    expect(lines[5]).toBe("0");
  });

  it("runs the container as the subordinate uid on the host, and box exec joins its user namespace", async () => {
    const name = `remap-${h.id}`;
    expectOk(await h.box("run", "-d", ...BRIDGE, "--name", name, "--userns-remap=default", "busybox", "sh", "-c", "echo hi > /from-run; sleep 60"));
    try {
      const pid = Number(expectOk(await h.box("inspect", "--format", "{{.State.Pid}}", name)).stdout.trim());
      expect(hostIds(pid)).toEqual({ uid: base().uid, gid: base().gid });
      const e = expectOk(await h.box("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map; cat /from-run; echo $$; sleep 0.5"));
      const [id, map, hi] = e.stdout.trim().split("\n");
      expect(id).toBe("0");
      expect(map!.trim().split(/\s+/).join(" ")).toBe(`0 ${base().uid} 65536`);
      expect(hi).toBe("hi");
      // box top: the container's processes only (not ns-init's relay outside its PID namespace, nor the host's).
      const top = expectOk(await h.box("top", name)).stdout.trim().split("\n");
      expect(top.length, top.join("\n")).toBeLessThanOrEqual(3);
      expect(top.some((l) => /sleep 60/.test(l) && l.startsWith(String(base().uid)))).toBe(true);
      // ns-exec --join enters the user namespace too, as nsenter --all.
      const j = expectOk(await h.tool("ns-exec", "--join", String(pid), "--", "sh", "-c", "id -u; cat /from-run; cat /proc/self/uid_map"));
      expect(j.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["0", "hi", `0 ${base().uid} 65536`]);
      // What the container wrote is owned, on the host, by the remapped root.
      const upper = join(h.root, "containers", expectOk(await h.box("inspect", "--format", "{{.Id}}", name)).stdout.trim(), "upper", "from-run");
      expect(statSync(upper).uid).toBe(base().uid);
      // SIGKILL reaches the container through ns-init's relay: it must not survive it.
      expectOk(await h.box("kill", name));
      expect(expectOk(await h.box("wait", name)).stdout.trim()).toBe("137");
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await h.box("rm", "-f", name);
    }
  });

  it("gives root in the container no power over the host's root-owned files", async () => {
    const dir = join(h.root, "vol");
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "file"), "host\n", { mode: 0o644 });
    try {
      const r = await h.box("run", "--network", "none", "--rm", "--userns-remap=default", "-v", `${dir}:/v`, "busybox", "sh", "-c", "cat /v/file; echo x >> /v/file && echo appended; touch /v/new && echo created; stat -c %u /v/file; true");
      expectOk(r);
      expect(r.stdout).toContain("host");
      expect(r.stdout).not.toContain("appended");
      expect(r.stdout).not.toContain("created");
      // Host uid 0 is not mapped inside: it shows as the overflow id.
      expect(r.stdout.trim().split("\n").pop()).toBe("65534");
      expect(readFileSync(join(dir, "file"), "utf8")).toBe("host\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--userns=host opts a container out of BOX_USERNS_REMAP", async () => {
    const env = { env: { BOX_USERNS_REMAP: "default" } };
    const remapped = expectOk(await h.box("run", "--network", "none", "--rm", "busybox", "cat", "/proc/self/uid_map", env)).stdout.trim().split(/\s+/).join(" ");
    expect(remapped).toBe(`0 ${base().uid} 65536`);
    const host = expectOk(await h.box("run", "--network", "none", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map", env)).stdout.trim().split(/\s+/).join(" ");
    expect(host).toBe("0 0 4294967295");
    const name = `host-${h.id}`;
    expectOk(await h.box("run", "--network", "none", "--name", name, "--userns=host", "busybox", "true", env));
    try {
      expect(expectOk(await h.box("inspect", "--format", "{{.HostConfig.UsernsMode}}", name)).stdout.trim()).toBe("host");
    } finally {
      await h.box("rm", "-f", name);
    }
  });

  it("commits a remapped container's files with the container's ids, not the host's", async () => {
    const name = `commit-${h.id}`;
    const tag = `remapped-${h.id.toLowerCase()}:v1`;
    expectOk(await h.box("run", "--network", "none", "--name", name, "--userns-remap=default", "busybox", "sh", "-c", "echo c > /c; chown 5:6 /c; mkdir /d"));
    try {
      expectOk(await h.box("commit", name, tag));
      const r = expectOk(await h.box("run", "--network", "none", "--rm", tag, "stat", "-c", "%u:%g %n", "/c", "/d"));
      expect(r.stdout.trim().split("\n")).toEqual(["5:6 /c", "0:0 /d"]);
    } finally {
      await h.box("rm", "-f", name);
      await h.box("rmi", tag);
    }
  });

  it("box cp gives a remapped container's files their container ids, running or stopped", async () => {
    const name = `cp-${h.id}`;
    expectOk(await h.box("run", "--network", "none", "-d", "--name", name, "--userns-remap=default", "busybox", "sh", "-c", "echo f > /f; chown 5:6 /f; touch /ready; sleep 60"));
    const src = join(h.root, "cp-src");
    writeFileSync(src, "host\n");
    const owners = async (path: string) =>
      expectOk(await h.run(["sh", "-c", `box cp ${name}:${path} - | tar -tvf - --numeric-owner`], { env: h.env })).stdout.split(/\s+/)[1];
    try {
      for (let i = 0; i < 100 && (await h.box("exec", name, "test", "-e", "/ready")).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await owners("/f")).toBe("5/6");
      expectOk(await h.box("cp", src, `${name}:/in`));
      expect(expectOk(await h.box("exec", name, "stat", "-c", "%u:%g", "/in")).stdout.trim()).toBe("0:0");
      expectOk(await h.box("stop", "-t", "0", name));
      expect(await owners("/f")).toBe("5/6");
      expect(await owners("/bin/busybox")).toBe("0/0");
      expectOk(await h.box("cp", src, `${name}:/in2`));
      expectOk(await h.box("start", name));
      expect(expectOk(await h.box("exec", name, "stat", "-c", "%u:%g", "/in", "/in2")).stdout.trim().split("\n")).toEqual(["0:0", "0:0"]);
    } finally {
      await h.box("rm", "-f", name);
      rmSync(src, { force: true });
    }
  });

  it("box build under BOX_USERNS_REMAP runs RUN steps as the remapped root; the layer has the container's ids", async () => {
    const ctx = join(h.root, "remap-ctx");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), "FROM busybox\nRUN cat /proc/self/uid_map > /map && id -u > /me && touch /made && chown 5:6 /made\n");
    const tag = `remap-build-${h.id.toLowerCase()}:1`;
    try {
      expectOk(await h.box("build", "-q", "--no-cache", "-t", tag, ctx, { env: { BOX_USERNS_REMAP: "default" } }));
      const r = expectOk(await h.box("run", "--rm", "--network", "none", tag, "sh", "-c", "cat /map /me; stat -c '%u:%g' /made /bin/busybox"));
      expect(r.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual([`0 ${base().uid} 65536`, "0", "5:6", "0:0", ""]);
    } finally {
      await h.box("rmi", tag);
      rmSync(ctx, { recursive: true, force: true });
    }
  });

  it("without idmapped layers (before Linux 5.19; BOX_IDMAP=copy here) the layers are shifted copies, made once per range, gone with the image", async () => {
    const copy = { env: { BOX_IDMAP: "copy" } };
    // A layer with what a plain chown would break: a setuid file, a hardlink to it, a whiteout.
    const name = `src-${h.id}`;
    const tag = `shift-${h.id.toLowerCase()}:1`;
    expectOk(await h.box("run", "--network", "none", "--name", name, "busybox", "sh", "-c", "cp /bin/busybox /su && chown 5:6 /su && chmod 4755 /su && ln /su /su2 && rm /etc/group"));
    try {
      expectOk(await h.box("commit", name, tag));
      const shifted = join(h.root, "layers-shifted");
      const probe = "stat -c '%u:%g %a %h %n' /su /su2 /bin/busybox; test -e /etc/group && echo group; cat /proc/self/uid_map";
      const r = expectOk(await h.box("run", "--network", "none", "--rm", "--userns-remap=default", tag, "sh", "-c", probe, copy));
      expect(r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["5:6 4755 2 /su", "5:6 4755 2 /su2", "0:0 755 1 /bin/busybox", `0 ${base().uid} 65536`]);
      // One copy per layer under the range, owned by the range's ids on the host.
      const [range, ...others] = readdirSync(shifted);
      expect(others).toEqual([]);
      expect(range).toMatch(new RegExp(`^${base().uid}\\.${base().gid}\\.[0-9a-f]{8}$`));
      const layers = readdirSync(join(shifted, range!));
      expect(layers).toHaveLength(2);
      for (const l of layers) expect(statSync(join(shifted, range!, l)).uid).toBe(base().uid);
      // A second run uses them as they are.
      const before = layers.map((l) => statSync(join(shifted, range!, l)).ino);
      expectOk(await h.box("run", "--network", "none", "--rm", "--userns-remap=default", tag, "true", copy));
      expect(layers.map((l) => statSync(join(shifted, range!, l)).ino)).toEqual(before);
      // The image's own layer goes with it; busybox's stays, for busybox.
      expectOk(await h.box("rmi", tag));
      expect(readdirSync(join(shifted, range!))).toHaveLength(1);
      // The default (idmapped) path makes no copies.
      expectOk(await h.box("run", "--network", "none", "--rm", "--userns-remap=default", "busybox", "true", { env: { BOX_IDMAP: "mount" } }));
      expect(readdirSync(join(shifted, range!))).toHaveLength(1);
    } finally {
      await h.box("rm", "-f", name);
      await h.box("rmi", tag);
    }
  });

  it("refuses bad settings with one line and exit 125, leaving nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["--userns-remap=nosuchuser-x"], /--userns-remap nosuchuser-x: no user named nosuchuser-x/],
      [["--userns-remap=daemon"], /no subordinate uid range for daemon/],
      [["--userns=private"], /invalid --userns: private/],
      [["--userns-remap=default", "--privileged"], /privileged mode is incompatible with user namespaces/],
    ];
    for (const [flags, msg] of cases) {
      const r = expectCode(await h.box("run", "--network", "none", "--rm", ...flags, "busybox", "true"), 125);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(expectOk(await h.box("ps", "-aq")).stdout.trim()).toBe("");
  });
});
