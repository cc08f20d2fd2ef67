// box run on bridge networks (netns-bridge) end to end: names and addresses on a user network,
// published ports from the host's 127.0.0.1, none and host modes, isolation between networks,
// cleanup after a killed run, and refusals. Traffic goes only to 127.0.0.1 and to the containers
// the tests made. Each test has its own harness: its own BOX_ROOT, BOX_RUN, nftables table and
// bridge prefix (see harness()), and after it no veth, netns, bridge or table of it remains.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { binPath, expectCode, expectOk, type Harness } from "./lib/harness.js";
import { freeSubnet } from "./lib/subnets.js";
import { HTTPD, ipOf, networkState, withBox as withNetworks } from "./lib/network.js";

/**
 * A test with its own harness, busybox and default network, on a subnet of its own: two test
 * files making box0 at once could otherwise both take the first free /16.
 */
const withBox = (fn: (h: Harness) => Promise<void>) =>
  withNetworks(fn, async (h) => {
    expectOk(await h.tool("netns-bridge", "network", "create", "box0", "--subnet", freeSubnet()));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const a = s.address();
  const port = typeof a === "object" && a ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** wget from a fresh container on `network` (retrying while the server starts). */
async function fetchFrom(h: Harness, network: string, url: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 20; i++) {
    const r = await h.box("run", "--rm", "--network", network, "busybox", "wget", "-qO-", url);
    if (r.code === 0) return r.stdout;
    last = r.stderr;
    await sleep(100);
  }
  throw new Error(`wget ${url} from ${network}: ${last}`);
}

async function curlHost(port: number): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const r = spawnSync("curl", ["-s", "-m", "2", `http://127.0.0.1:${port}/`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout) return r.stdout;
    await sleep(100);
  }
  throw new Error(`curl 127.0.0.1:${port}: no answer`);
}

describe("box run on bridge networks", () => {
  it("a server on a user network is reached by name and by address, and its published port from the host", () =>
    withBox(async (h) => {
      expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "web"));
      const port = await freePort();
      const id = expectOk(await h.box("run", "-d", "--name", "srv", "--hostname", "srvhost", "--network", "web", "-p", `${port}:80`, "busybox", ...HTTPD)).stdout.trim();
      expect(await fetchFrom(h, "web", "http://srv/")).toBe("srvhost\n");
      const ip = await ipOf(h, "srv");
      expect(await fetchFrom(h, "web", `http://${ip}/`)).toBe("srvhost\n");
      expect(await curlHost(port)).toBe("srvhost\n");

      expect(expectOk(await h.box("port", "srv")).stdout).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
      expect(expectOk(await h.box("ps", "--format", "{{.Names}} {{.Ports}}")).stdout).toBe(`srv 0.0.0.0:${port}->80/tcp\n`);
      const ns = JSON.parse(expectOk(await h.box("inspect", "-f", "{{json .NetworkSettings}}", "srv")).stdout) as Record<string, any>;
      expect(ns.Gateway).toMatch(/^10\.\d+\.\d+\.1$/);
      expect(ns.MacAddress).toMatch(/^02:42:/);
      expect(ns.Ports).toEqual({ "80/tcp": [{ HostIp: "0.0.0.0", HostPort: String(port) }] });
      expect(Object.keys(ns.Networks)).toEqual(["web"]);
      const net = JSON.parse(expectOk(await h.box("network", "inspect", "web")).stdout) as Record<string, any>[];
      expect(net[0]!.Containers[id].Name).toBe("srv");

      // Stopped, the container gives its address and host port back (as Docker); start makes them again.
      expectOk(await h.box("stop", "-t", "1", "srv"));
      for (let i = 0; i < 50 && networkState(h).veths.length > 0; i++) await sleep(100);
      expect(networkState(h).veths).toEqual([]);
      expectOk(await h.box("start", "srv"));
      expect(await curlHost(port)).toBe("srvhost\n");
      expectOk(await h.box("rm", "-f", "srv"));
      expectOk(await h.box("network", "rm", "web"));
    }));

  it("on the default network a container has an address and the gateway, and reaches others by address only", () =>
    withBox(async (h) => {
      expectOk(await h.box("run", "-d", "--name", "srv", "busybox", ...HTTPD));
      const ip = await ipOf(h, "srv");
      expect(await fetchFrom(h, "bridge", `http://${ip}/`)).toMatch(/^[0-9a-f]{12}\n$/);
      const r = await h.box("run", "--rm", "--init", "--dns", "127.0.0.1", "busybox", "timeout", "3", "wget", "-qO-", "http://srv/");
      expect(r.code).not.toBe(0);
      const hosts = expectOk(await h.box("run", "--rm", "--add-host", "gw:host-gateway", "--add-host", "db:10.9.9.9", "busybox", "cat", "/etc/hosts")).stdout;
      const gw = expectOk(await h.box("inspect", "-f", "{{.NetworkSettings.Gateway}}", "srv")).stdout.trim();
      expect(hosts).toContain(`${gw}\tgw\n`);
      expect(hosts).toContain("10.9.9.9\tdb\n");
      const dns = expectOk(await h.box("run", "--rm", "--dns", "10.0.0.53", "busybox", "cat", "/etc/resolv.conf")).stdout;
      expect(dns).toBe("nameserver 10.0.0.53\n");
      expectOk(await h.box("rm", "-f", "srv"));
    }));

  it("--network none has only lo; --network host sees the host's interfaces", () =>
    withBox(async (h) => {
      const none = expectOk(await h.box("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")).stdout;
      expect(none.split(/\s+/).filter(Boolean)).toEqual(["lo"]);
      // Other test files make and remove links meanwhile: what the container lists must lie
      // between what the host had throughout (before and after) and what it had at some point.
      const before = readdirSync("/sys/class/net");
      const host = expectOk(await h.box("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")).stdout.split(/\s+/).filter(Boolean).sort();
      const after = readdirSync("/sys/class/net");
      const always = before.filter((l) => after.includes(l)).sort();
      expect(host.filter((l) => always.includes(l))).toEqual(always);
      for (const l of host) expect(before.includes(l) || after.includes(l) || l.startsWith("vb-"), l).toBe(true);
      expect(networkState(h).veths).toEqual([]);
    }));

  it("two user networks are isolated from each other", () =>
    withBox(async (h) => {
      expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "left"));
      expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "right"));
      expectOk(await h.box("run", "-d", "--name", "srv", "--network", "left", "busybox", ...HTTPD));
      const ip = await ipOf(h, "srv");
      await fetchFrom(h, "left", `http://${ip}/`);
      // --init: wget must not be PID 1, which ignores timeout's SIGTERM.
      const r = await h.box("run", "--rm", "--init", "--network", "right", "busybox", "timeout", "3", "wget", "-qO-", `http://${ip}/`);
      expect(r.code, r.stderr).not.toBe(0);
      // --dns 127.0.0.1: a name not in the hosts file must not be looked up outside the host.
      const byName = await h.box("run", "--rm", "--init", "--dns", "127.0.0.1", "--network", "right", "busybox", "timeout", "3", "wget", "-qO-", "http://srv/");
      expect(byName.code).not.toBe(0);
      expectOk(await h.box("rm", "-f", "srv"));
      expectOk(await h.box("network", "rm", "left", "right"));
    }));

  it("network prune removes the user networks no container names, running or stopped, as Docker", () =>
    withBox(async (h) => {
      for (const n of ["busy", "parked", "idle"]) expectOk(await h.box("network", "create", "--subnet", freeSubnet(), n));
      expectOk(await h.box("run", "-d", "--name", "up", "--network", "busy", "busybox", "sleep", "300"));
      // A stopped container keeps its network: its next start makes the endpoint again.
      expectOk(await h.box("create", "--name", "later", "--network", "parked", "busybox", "true"));
      expect(expectOk(await h.box("network", "prune", { input: "" })).stderr).toContain("WARNING! This will remove all custom networks not used by at least one container.");
      expect(expectOk(await h.box("network", "prune", "-f")).stdout).toBe("Deleted Networks:\nidle\n");
      const names = expectOk(await h.box("network", "ls", "--format", "{{.Name}}")).stdout.trim().split("\n");
      expect(names.sort()).toEqual(["box0", "busy", "parked"]);
      expectOk(await h.box("start", "later"));
      expectOk(await h.box("rm", "-f", "up", "later"));
      expect(expectOk(await h.box("network", "prune", "-f")).stdout).toBe("Deleted Networks:\nbusy\nparked\n");
    }));

  it("box rm after a SIGKILLed box run removes its endpoint", () =>
    withBox(async (h) => {
      const child = spawn(binPath("box"), ["run", "--name", "killed", "-p", `${await freePort()}:80`, "busybox", "sleep", "30"], { env: h.env, stdio: "ignore" });
      for (let i = 0; i < 100 && networkState(h).veths.length === 0; i++) await sleep(50);
      expect(networkState(h).veths.length).toBe(1);
      child.kill("SIGKILL");
      await new Promise((r) => child.on("close", r));
      expectOk(await h.box("rm", "-f", "killed"));
      expect(networkState(h).veths).toEqual([]);
      expect(networkState(h).netns).toEqual([]);
    }));

  it("--explain prints the netns-bridge steps, and the pipeline gives the same network", () =>
    withBox(async (h) => {
      const ex = expectOk(await h.box("run", "--rm", "--explain", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | wc -l; grep -c localhost /etc/hosts"));
      const id = /containers\/([0-9a-f]{64})/.exec(ex.stdout)![1]!;
      expect(ex.stdout).toContain(`netns-bridge create ${id} --network box0 --hostname ${id.slice(0, 12)}`);
      expect(ex.stdout).toContain(`--net=${h.runDir}/netns/${id}`);
      expect(ex.stdout).toContain(`netns-bridge rm ${id}`);
      const r = expectOk(await h.run(["sh", "-c", ex.stdout]));
      expect(r.stdout).toBe("1\n2\n");
    }));

  it("refuses bad ports, a bound host port, an unknown network and removing a network in use: one line, exit 125, nothing made", () =>
    withBox(async (h) => {
      const busy: Server = createServer();
      await new Promise<void>((r) => busy.listen(0, "0.0.0.0", () => r()));
      const a = busy.address();
      const port = typeof a === "object" && a ? a.port : 0;
      try {
        expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "inuse"));
        expectOk(await h.box("run", "-d", "--name", "holder", "--network", "inuse", "busybox", "sleep", "30"));
        const cases: [string[], RegExp][] = [
          [["run", "--rm", "-p", "99999:80", "busybox", "true"], /^box: invalid host port '99999' in '99999:80': ports are 1-65535$/],
          [["run", "--rm", "-p", `${port}:80`, "busybox", "true"], new RegExp(`^box: host port 0\\.0\\.0\\.0:${port}/tcp is already in use$`)],
          [["run", "--rm", "--network", "nosuchnet", "busybox", "true"], /^box: network nosuchnet not found$/],
          [["run", "--rm", "--ip", "10.1.2.3", "--network", "none", "busybox", "true"], /^box: --ip needs a bridge network/],
          [["network", "rm", "inuse"], /^box: network inuse has 1 endpoint attached/],
          [["network", "create", "--subnet", "10.0.0.0/33", "bad"], /^box: subnet|^box: invalid subnet/],
        ];
        for (const [args, re] of cases) {
          const r = expectCode(await h.box(...args), 125, args.join(" "));
          expect(r.stderr.trim().split("\n")).toHaveLength(1);
          expect(r.stderr.trim()).toMatch(re);
        }
        expect(expectOk(await h.box("ps", "-a", "--format", "{{.Names}}")).stdout).toBe("holder\n");
        expect(networkState(h).veths).toHaveLength(1);
        expect(networkState(h).netns.sort()).toHaveLength(2); // holder's netns and hosts file
        expectOk(await h.box("rm", "-f", "holder"));
        expectOk(await h.box("network", "rm", "inuse"));
      } finally {
        busy.close();
      }
    }));
});
