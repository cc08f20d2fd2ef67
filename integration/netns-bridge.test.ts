// netns-bridge against the real kernel and real nftables: named netns on bridges, leases,
// published ports, isolation, concurrency, killed creates and refusals. Every test uses its own
// nftables table (BOX_NFT_TABLE), bridge prefix and subnets, and must leave none of them behind.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { binPath, busyboxTar, expectCode, expectOk, formatResult, harness, type Harness, type RunResult } from "./lib/harness.js";
import { freeSubnet, ipToNum } from "./lib/subnets.js";

let h: Harness;
let rootfs: string;
let env: Record<string, string>;
let prefix: string;
let table: string;
const servers: ChildProcess[] = [];

const nb = (...args: string[]) => h.run([binPath("netns-bridge"), ...args], { env });
const inNs = (netns: string, cmd: string[], extra: string[] = []) =>
  h.run([binPath("ns-exec"), `--net=${netns}`, "--pid", "--mount", "--init", "--root", rootfs, ...extra, "--", ...cmd], { env, timeoutMs: 20_000 });

/** A server in a netns, in the background; killed (by pid) after the test. */
function serve(netns: string, cmd: string[]): ChildProcess & { out: string[] } {
  const child = spawn(binPath("ns-exec"), [`--net=${netns}`, "--pid", "--mount", "--root", rootfs, "--", ...cmd], {
    env: { ...h.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  }) as ChildProcess & { out: string[] };
  child.out = [];
  child.stdout!.on("data", (b: Buffer) => child.out.push(b.toString()));
  child.stderr!.on("data", (b: Buffer) => child.out.push(b.toString()));
  servers.push(child);
  return child;
}

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}



async function freePort(proto: "tcp" | "udp" = "tcp"): Promise<number> {
  if (proto === "udp") {
    const s = createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === "object" && a ? a.port : 0;
}

interface Ep {
  netnsPath: string;
  ip: string;
  gateway: string;
  hostVeth: string;
  bridge: string;
  hostsPath: string;
  publish: { hostPort: number }[];
}

async function endpoint(name: string, ...args: string[]): Promise<Ep> {
  const r = expectOk(await nb("create", name, "--json", ...args), `create ${name}`);
  return JSON.parse(r.stdout) as Ep;
}

async function network(name: string, subnet = freeSubnet()): Promise<{ bridge: string; subnet: string }> {
  expectOk(await nb("network", "create", name, "--subnet", subnet));
  const [net] = JSON.parse(expectOk(await nb("network", "inspect", name)).stdout) as { bridge: string; subnet: string }[];
  return net!;
}

/** What of this file's is in the kernel or the state dirs: links, the nft table, netns files, mounts. */
function leftovers(): string[] {
  const out: string[] = [];
  const netnsDir = join(h.runDir, "netns");
  const ours = new Set(existsSync(netnsDir) ? readdirSync(netnsDir) : []);
  for (const f of ours) out.push(`file ${join(netnsDir, f)}`);
  for (const line of spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout.split("\n")) {
    const name = line.split(": ")[1]?.split("@")[0];
    if (name && (name.startsWith(prefix) || hostVeths.has(name))) out.push(`link ${name}`);
  }
  if (spawnSync("nft", ["list", "table", "ip", table], { stdio: "ignore" }).status === 0) out.push(`nft table ip ${table}`);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const t = line.split(" ")[4];
    if (t?.startsWith(`${h.runDir}/`)) out.push(`mount ${t}`);
  }
  const nets = join(h.root, "networks");
  for (const f of existsSync(nets) ? readdirSync(nets) : []) if (f.endsWith(".json")) out.push(`network ${f}`);
  return out;
}
const hostVeths = new Set<string>();

beforeAll(async () => {
  h = await harness();
  rootfs = join(h.root, "rootfs");
  mkdirSync(rootfs);
  expectOk(await h.run(["tar", "-xf", await busyboxTar(), "-C", rootfs]), "unpack busybox");
  mkdirSync(join(rootfs, "www"));
  writeFileSync(join(rootfs, "www", "index.html"), "hello from the bridge\n");
  const suffix = h.id.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, "x");
  prefix = `t${suffix}`;
  table = `box-${suffix}`;
  env = { BOX_NFT_TABLE: table, BOX_BRIDGE_PREFIX: prefix };
});

afterEach(async () => {
  for (const s of servers.splice(0)) if (s.exitCode === null && s.pid) process.kill(s.pid, "SIGKILL");
  // The test's own teardown, done with the tool as box would: rm every endpoint, then every network.
  const netnsDir = join(h.runDir, "netns");
  const problems: string[] = [];
  for (const f of existsSync(netnsDir) ? readdirSync(netnsDir) : []) {
    if (f.endsWith(".hosts")) continue;
    const r = await nb("rm", f);
    if (r.code !== 0) problems.push(formatResult(r));
  }
  const nets = join(h.root, "networks");
  for (const f of existsSync(nets) ? readdirSync(nets) : []) {
    if (!f.endsWith(".json")) continue;
    const r = await nb("network", "rm", f.slice(0, -5));
    if (r.code !== 0) problems.push(formatResult(r));
  }
  const left = leftovers();
  // Whatever the tool missed goes by hand, so one failure does not spill into the next test.
  for (const l of left) {
    const [kind, what] = l.split(" ");
    if (kind === "link") spawnSync("ip", ["link", "del", what!]);
    if (kind === "nft") spawnSync("nft", ["delete", "table", "ip", table]);
    if (kind === "mount") spawnSync("umount", ["-l", what!]);
  }
  hostVeths.clear();
  expect(problems, "teardown with netns-bridge rm / network rm failed").toEqual([]);
  expect(left, "left behind after rm and network rm").toEqual([]);
});

afterAll(async () => {
  await h?.cleanup();
});

describe("netns-bridge", () => {
  it("--help prints the usage on stdout and exits 0", async () => {
    const r = expectOk(await nb("--help"));
    expect(r.stdout).toMatch(/^Usage:\n netns-bridge create NAME/);
    expect(expectOk(await nb("network", "--help")).stdout).toBe(r.stdout);
  });

  it("reaches a busybox httpd in one netns from another, by IP and by name", async () => {
    await network("app");
    const srv = await endpoint("srv", "--network", "app", "--hostname", "web");
    const cli = await endpoint("cli", "--network", "app");
    hostVeths.add(srv.hostVeth).add(cli.hostVeth);
    expect(srv.ip).not.toBe(cli.ip);
    const links = expectOk(await inNs(srv.netnsPath, ["ip", "-o", "addr", "show"])).stdout;
    expect(links).toMatch(new RegExp(`eth0\\s+inet ${srv.ip.replace(/\./g, "\\.")}/24`));
    expect(expectOk(await inNs(srv.netnsPath, ["ip", "route"])).stdout).toContain(`default via ${srv.gateway} dev eth0`);
    // The managed hosts file names the neighbours on a user network, and is rewritten on join and leave.
    const hosts = readFileSync(cli.hostsPath, "utf8");
    expect(hosts).toContain(`${srv.ip}\tsrv web\n`);
    serve(srv.netnsPath, ["httpd", "-f", "-p", "80", "-h", "/www"]);
    const get = (url: string) => inNs(cli.netnsPath, ["timeout", "3", "wget", "-q", "-O", "-", url], ["--hosts", cli.hostsPath]);
    let last: RunResult | undefined;
    await until("httpd to answer", async () => (last = await get(`http://${srv.ip}:80/`)).code === 0);
    expect(last!.stdout).toBe("hello from the bridge\n");
    // Debian's busybox-static cannot resolve names itself (glibc's NSS needs shared libraries), so the
    // probe looks the name up in the container's /etc/hosts, as libc would, and fetches that address.
    const byName = (name: string) =>
      inNs(cli.netnsPath, ["sh", "-c", `ip=$(awk -v n=${name} '{for(i=2;i<=NF;i++) if($i==n) {print $1; exit}}' /etc/hosts); timeout 3 wget -q -O - http://$ip:80/`], ["--hosts", cli.hostsPath]);
    for (const name of ["srv", "web"]) {
      const r = await byName(name);
      expect(r.stdout, formatResult(r)).toBe("hello from the bridge\n");
    }
    const third = await endpoint("late", "--network", "app");
    hostVeths.add(third.hostVeth);
    expect(readFileSync(cli.hostsPath, "utf8")).toContain(`${third.ip}\tlate\n`);
    expectOk(await nb("rm", "late"));
    expect(readFileSync(cli.hostsPath, "utf8")).not.toContain("late");
  });

  it("makes the default network on first use; there, hosts files name no neighbour", async () => {
    const a = await endpoint("d1");
    const b = await endpoint("d2");
    hostVeths.add(a.hostVeth).add(b.hostVeth);
    expect(a.bridge).toBe(`${prefix}0`);
    const [net] = JSON.parse(expectOk(await nb("network", "inspect", "box0")).stdout) as { subnet: string; endpoints: object }[];
    expect(Object.keys(net!.endpoints).sort()).toEqual(["d1", "d2"]);
    expect(readFileSync(a.hostsPath, "utf8")).not.toContain("d2");
    expectOk(await inNs(a.netnsPath, ["ping", "-c", "1", "-W", "2", b.ip]));
  });

  it("gives a netns made with --net (Docker's --network none) only lo, and an endpoint lo and eth0", async () => {
    const none = expectOk(await h.run([binPath("ns-exec"), "--net", "--pid", "--mount", "--root", rootfs, "--", "ip", "-o", "link"], { env }));
    expect(none.stdout.trim().split("\n").map((l) => l.split(": ")[1])).toEqual(["lo"]);
    await network("solo");
    const ep = await endpoint("one", "--network", "solo");
    hostVeths.add(ep.hostVeth);
    const r = expectOk(await inNs(ep.netnsPath, ["ip", "-o", "link"]));
    expect(r.stdout.trim().split("\n").map((l) => l.split(": ")[1]!.split("@")[0])).toEqual(["lo", "eth0"]);
    expect(r.stdout).toMatch(/lo: <LOOPBACK,UP/);
  });

  it("publishes tcp ports and ranges, reached with curl on 127.0.0.1 from the host", async () => {
    await network("pub");
    const p1 = await freePort();
    let p2 = await freePort();
    // A range needs two neighbouring ports; try a few.
    let range = "";
    for (let i = 0; i < 20 && !range; i++) {
      const a = await freePort();
      const ok = await new Promise<boolean>((r) => {
        const s: Server = createServer();
        s.once("error", () => r(false));
        s.listen(a + 1, "127.0.0.1", () => s.close(() => r(true)));
      });
      if (ok && a + 1 <= 65535) range = `${a}-${a + 1}`;
    }
    p2 = Number(range.split("-")[0]);
    const ep = await endpoint("web", "--network", "pub", "-p", `${p1}:80`, "-p", `127.0.0.1:${range}:80-81`);
    hostVeths.add(ep.hostVeth);
    expect(ep.publish.map((m) => m.hostPort)).toEqual([p1, p2, p2 + 1]);
    serve(ep.netnsPath, ["sh", "-c", "httpd -p 81 -h /www && exec httpd -f -p 80 -h /www"]);
    const curl = (port: number) => h.run(["curl", "-s", "-m", "3", `http://127.0.0.1:${port}/`]);
    await until("the published port to answer", async () => (await curl(p1)).code === 0);
    expect((await curl(p1)).stdout).toBe("hello from the bridge\n");
    expect(expectOk(await curl(p2)).stdout).toBe("hello from the bridge\n");
    expect(expectOk(await curl(p2 + 1)).stdout).toBe("hello from the bridge\n");
    const rules = spawnSync("nft", ["list", "chain", "ip", table, "publish"], { encoding: "utf8" }).stdout;
    expect(rules).toContain(`tcp dport ${p1} dnat to ${ep.ip}:80`);
    expect(rules).toContain(`ip daddr 127.0.0.1 tcp dport ${p2 + 1} dnat to ${ep.ip}:81`);
    expectOk(await nb("rm", "web"));
    expect(spawnSync("nft", ["list", "chain", "ip", table, "publish"], { encoding: "utf8" }).stdout).not.toContain("dnat");
  });

  it("publishes a udp port", async () => {
    await network("udp");
    const port = await freePort("udp");
    const ep = await endpoint("dns", "--network", "udp", "-p", `${port}:5000/udp`);
    hostVeths.add(ep.hostVeth);
    // Debian's busybox nc has no -u and no udpsvd: the UDP server is the host's node, run by
    // ns-exec in the endpoint's netns only (no --root), which is all this test is about.
    const server = "require('dgram').createSocket('udp4').on('message',(m)=>process.stdout.write(m)).bind(5000)";
    const child = spawn(binPath("ns-exec"), [`--net=${ep.netnsPath}`, "--", process.execPath, "-e", server], {
      env: { ...h.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }) as ChildProcess & { out: string[] };
    child.out = [];
    child.stdout!.on("data", (b: Buffer) => child.out.push(b.toString()));
    servers.push(child);
    const sock = createSocket("udp4");
    try {
      await until("the datagram to arrive", () => {
        sock.send("ping-over-udp\n", port, "127.0.0.1");
        return child.out.join("").includes("ping-over-udp");
      });
    } finally {
      sock.close();
    }
  });

  it("isolates two user networks from each other", async () => {
    await network("red");
    await network("blue");
    const r1 = await endpoint("r1", "--network", "red");
    const r2 = await endpoint("r2", "--network", "red");
    const b1 = await endpoint("b1", "--network", "blue");
    for (const e of [r1, r2, b1]) hostVeths.add(e.hostVeth);
    serve(r1.netnsPath, ["httpd", "-f", "-p", "80", "-h", "/www"]);
    const get = (from: Ep) => inNs(from.netnsPath, ["timeout", "3", "wget", "-q", "-O", "-", `http://${r1.ip}:80/`]);
    await until("httpd to answer on red", async () => (await get(r2)).code === 0);
    const cross = await get(b1);
    expect(cross.code, formatResult(cross)).not.toBe(0);
    const ping = await inNs(b1.netnsPath, ["ping", "-c", "1", "-W", "1", r1.ip]);
    expect(ping.code, formatResult(ping)).not.toBe(0);
    expectOk(await inNs(r2.netnsPath, ["ping", "-c", "1", "-W", "2", r1.ip]));
  });

  it("gives 20 endpoints created at once 20 distinct addresses, and takes them back on rm", async () => {
    await network("many");
    const names = Array.from({ length: 20 }, (_, i) => `m${i}`);
    const eps = await Promise.all(names.map((n) => endpoint(n, "--network", "many")));
    for (const e of eps) hostVeths.add(e.hostVeth);
    expect(new Set(eps.map((e) => e.ip)).size).toBe(20);
    expect(new Set(eps.map((e) => e.hostVeth)).size).toBe(20);
    const rms = await Promise.all(names.map((n) => nb("rm", n)));
    for (const r of rms) expectOk(r);
    const [net] = JSON.parse(expectOk(await nb("network", "inspect", "many")).stdout) as { endpoints: object }[];
    expect(net!.endpoints).toEqual({});
    // The lowest addresses come back first.
    const again = await endpoint("again", "--network", "many");
    hostVeths.add(again.hostVeth);
    expect(again.ip).toBe(eps.map((e) => e.ip).sort((a, b) => ipToNum(a) - ipToNum(b))[0]);
  });

  it("cleans up with rm after a create was SIGKILLed at any point", async () => {
    await network("kill");
    for (const delay of [60, 120, 160, 200, 240, 300]) {
      const child = spawn(binPath("netns-bridge"), ["create", "k", "--network", "kill", "-p", `${await freePort()}:80`], {
        env: { ...h.env, ...env },
        stdio: "ignore",
      });
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      // A create that finished within the delay has already closed: its event will not come again.
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("close", r));
      const r = await nb("rm", "k");
      expect([0, 1], formatResult(r)).toContain(r.code);
      expect(existsSync(join(h.runDir, "netns", "k")), `delay ${delay}`).toBe(false);
      const rest = leftovers().filter((l) => !l.startsWith("link t") && l !== `nft table ip ${table}` && l !== "network kill.json");
      expect(rest, `delay ${delay}`).toEqual([]);
      const [net] = JSON.parse(expectOk(await nb("network", "inspect", "kill")).stdout) as { endpoints: object }[];
      expect(net!.endpoints, `delay ${delay}`).toEqual({});
    }
  });

  it("gc removes the endpoint of an owner that died, and netns files without a lease", async () => {
    await network("gc");
    const owner = spawn("sleep", ["30"], { stdio: "ignore" });
    const ep = await endpoint("orphan", "--network", "gc", "--owner", String(owner.pid));
    const kept = await endpoint("kept", "--network", "gc");
    hostVeths.add(ep.hostVeth).add(kept.hostVeth);
    expect(expectOk(await nb("gc")).stdout).toBe("");
    process.kill(owner.pid!, "SIGKILL");
    await new Promise((r) => owner.once("close", r));
    const r = expectOk(await nb("gc"));
    expect(r.stdout).toBe(`endpoint orphan on gc: owner pid ${owner.pid} is gone\n`);
    expect(existsSync(ep.netnsPath)).toBe(false);
    expect(spawnSync("ip", ["link", "show", ep.hostVeth]).status).not.toBe(0);
    expect(existsSync(kept.netnsPath)).toBe(true);
  });

  describe("refuses bad input with one line, a non-zero status and nothing made", () => {
    const refused = async (code: number, re: RegExp, ...args: string[]) => {
      const before = leftovers();
      const r = expectCode(await nb(...args), code);
      expect(r.stderr.split("\n")[0]).toMatch(re);
      expect(r.stdout).toBe("");
      expect(leftovers()).toEqual(before);
    };

    it("-p 99999:80", () => refused(2, /^netns-bridge: invalid host port '99999' in '99999:80': ports are 1-65535$/, "create", "x", "-p", "99999:80"));

    it("a host port already bound", async () => {
      await network("busy");
      const s = createServer();
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
      const port = (s.address() as { port: number }).port;
      try {
        await refused(1, new RegExp(`^netns-bridge: host port 127.0.0.1:${port}/tcp is already in use$`), "create", "x", "--network", "busy", "-p", `127.0.0.1:${port}:80`);
      } finally {
        await new Promise((r) => s.close(r));
      }
    });

    it("a host port another endpoint publishes", async () => {
      await network("twice");
      const port = await freePort();
      const ep = await endpoint("first", "--network", "twice", "-p", `${port}:80`);
      hostVeths.add(ep.hostVeth);
      await refused(1, new RegExp(`^netns-bridge: host port 0.0.0.0:${port}/tcp is already published by first$`), "create", "x", "--network", "twice", "-p", `${port}:80`);
    });

    it("an unknown network", () => refused(1, /^netns-bridge: network nosuch not found$/, "create", "x", "--network", "nosuch"));

    it("a subnet that overlaps a route of the host", async () => {
      // A route of the host's own uplink: bridges of other test files come and go meanwhile.
      const uplink = /\bdev (\S+)/.exec(spawnSync("ip", ["-4", "route", "show", "default"], { encoding: "utf8" }).stdout)?.[1] ?? "";
      const route = spawnSync("ip", ["-4", "route", "show", "scope", "link", "dev", uplink], { encoding: "utf8" }).stdout.split("\n")[0]!.split(" ")[0]!;
      expect(route).toMatch(/\/\d+$/);
      await refused(1, /^netns-bridge: subnet .* overlaps the route /, "network", "create", "over", "--subnet", route);
    });

    it("network rm with endpoints attached", async () => {
      await network("busy2");
      const ep = await endpoint("attached", "--network", "busy2");
      hostVeths.add(ep.hostVeth);
      await refused(1, /^netns-bridge: network busy2 has 1 endpoint attached \(attached\); remove them first$/, "network", "rm", "busy2");
    });

    it("an address outside the subnet, or taken", async () => {
      await network("addr", "10.249.77.0/24");
      const ep = await endpoint("a1", "--network", "addr", "--ip", "10.249.77.9");
      hostVeths.add(ep.hostVeth);
      await refused(1, /^netns-bridge: address 10.249.77.9 is in use on network addr$/, "create", "x", "--network", "addr", "--ip", "10.249.77.9");
      await refused(1, /^netns-bridge: address 10.9.9.9 is not a host address of network addr/, "create", "x", "--network", "addr", "--ip", "10.9.9.9");
    });
  });
});
