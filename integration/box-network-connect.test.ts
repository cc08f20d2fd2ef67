// box network connect / disconnect end to end, and netns-bridge attach / detach under them: a
// container on one user network gets eth1 on another, reaches that network's containers by name
// and address, and loses all of it on disconnect; refusals leave nothing made; box rm -f of a
// connected container and netns-bridge gc of a dead owner remove every interface. Each test has
// its own harness (BOX_ROOT, BOX_RUN, nftables table, bridge prefix); afterwards none of it remains.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { expectCode, expectOk, harness, type Harness, type RunResult } from "./lib/harness.js";
import { freeSubnet, inSubnet } from "./lib/subnets.js";
import { HTTPD, ipOf, networkState, withBox } from "./lib/network.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `box exec` in `ref` until it succeeds (a server may still be starting). */
async function execOk(h: Harness, ref: string, ...cmd: string[]): Promise<RunResult> {
  let r: RunResult | undefined;
  for (let i = 0; i < 20; i++) {
    r = await h.box("exec", ref, ...cmd);
    if (r.code === 0) return r;
    await sleep(100);
  }
  return expectOk(r!, `box exec ${ref} ${cmd.join(" ")}`);
}

/** `box exec` that must fail: the address or name is out of reach (timeout ends a hanging connect). */
async function unreachable(h: Harness, ref: string, url: string): Promise<void> {
  const r = await h.box("exec", ref, "timeout", "3", "wget", "-qO-", url);
  expect(r.code, `${url} from ${ref} should fail:\n${r.stdout}${r.stderr}`).not.toBe(0);
}

function networks(h: Harness, ref: string): Promise<Record<string, { IPAddress: string; Aliases: string[] | null }>> {
  return h.box("inspect", "-f", "{{json .NetworkSettings.Networks}}", ref).then((r) => JSON.parse(expectOk(r).stdout));
}

describe("box network connect and disconnect", () => {
  it("a container connected to a second network reaches its containers by name and address, and no more once disconnected", () =>
    withBox(async (h) => {
      const sub1 = freeSubnet();
      const sub2 = freeSubnet();
      expectOk(await h.box("network", "create", "--subnet", sub1, "net1"));
      expectOk(await h.box("network", "create", "--subnet", sub2, "net2"));
      const aId = expectOk(await h.box("run", "-d", "--name", "a", "--network", "net1", "busybox", "sleep", "300")).stdout.trim();
      expectOk(await h.box("run", "-d", "--name", "b", "--hostname", "bhost", "--network", "net2", "busybox", ...HTTPD));
      const bIp = await ipOf(h, "b");
      await execOk(h, "b", "wget", "-qO-", "http://127.0.0.1/");

      await unreachable(h, "a", `http://${bIp}/`);
      expect(expectOk(await h.box("exec", "a", "cat", "/etc/hosts")).stdout).not.toMatch(/\bb\b/);

      const c = expectOk(await h.box("network", "connect", "--alias", "web", "net2", "a"));
      expect(c.stdout).toBe("");
      const eth1 = expectOk(await h.box("exec", "a", "ip", "-4", "-o", "addr", "show", "eth1")).stdout;
      const aIp2 = /inet (\d+\.\d+\.\d+\.\d+)\/24/.exec(eth1)?.[1];
      expect(aIp2 && inSubnet(aIp2, sub2), eth1).toBe(true);
      expect(await execOk(h, "a", "wget", "-qO-", "http://b/").then((r) => r.stdout)).toBe("bhost\n");
      expect(await execOk(h, "a", "wget", "-qO-", `http://${bIp}/`).then((r) => r.stdout)).toBe("bhost\n");
      await execOk(h, "a", "ping", "-c", "1", "-W", "2", bIp);
      // And the other way: b resolves a (and its alias) to a's address on net2.
      await execOk(h, "b", "ping", "-c", "1", "-W", "2", "a");
      expect(expectOk(await h.box("exec", "b", "cat", "/etc/hosts")).stdout).toMatch(new RegExp(`^${aIp2!.replace(/\./g, "\\.")}\\t.*\\ba\\b.*\\bweb\\b`, "m"));
      // eth0 keeps the default route: a still leaves by net1.
      expect(expectOk(await h.box("exec", "a", "ip", "route", "show", "default")).stdout).toContain("dev eth0");

      const nets = await networks(h, "a");
      expect(Object.keys(nets)).toEqual(["net1", "net2"]);
      expect(nets.net2!.IPAddress).toBe(aIp2);
      expect(nets.net2!.Aliases).toEqual(["a", "web"]);
      const inspect2 = JSON.parse(expectOk(await h.box("network", "inspect", "net2")).stdout) as { Containers: Record<string, { Name: string; IPv4Address: string }> }[];
      expect(inspect2[0]!.Containers[aId]).toMatchObject({ Name: "a", IPv4Address: `${aIp2}/24` });
      expect(networkState(h).veths).toHaveLength(3);

      expectOk(await h.box("network", "disconnect", "net2", "a"));
      expect(expectOk(await h.box("exec", "a", "ls", "/sys/class/net")).stdout.split(/\s+/).filter(Boolean)).toEqual(["eth0", "lo"]);
      await unreachable(h, "a", `http://${bIp}/`);
      expect(expectOk(await h.box("exec", "b", "cat", "/etc/hosts")).stdout).not.toMatch(/\ba\b/);
      expect(Object.keys(await networks(h, "a"))).toEqual(["net1"]);
      const after = JSON.parse(expectOk(await h.box("network", "inspect", "net2")).stdout) as { Containers: Record<string, unknown> }[];
      expect(Object.keys(after[0]!.Containers)).not.toContain(aId);
      expect(networkState(h).veths).toHaveLength(2);

      // Connected again, then removed while connected: box rm -f takes every interface with it.
      expectOk(await h.box("network", "connect", "net2", "a"));
      expect(networkState(h).veths).toHaveLength(3);
      expectOk(await h.box("rm", "-f", "a", "b"));
      expect(networkState(h).veths).toEqual([]);
      expectOk(await h.box("network", "rm", "net1", "net2"));
    }));

  it("a stopped container is connected at its next start, and keeps the network across restarts", () =>
    withBox(async (h) => {
      const sub2 = freeSubnet();
      expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "net1"));
      expectOk(await h.box("network", "create", "--subnet", sub2, "net2"));
      expectOk(await h.box("run", "-d", "--name", "s", "--network", "net1", "busybox", "sleep", "300"));
      expectOk(await h.box("stop", "-t", "1", "s"));
      for (let i = 0; i < 50 && networkState(h).veths.length > 0; i++) await sleep(100);
      expectOk(await h.box("network", "connect", "net2", "s"));
      expect(networkState(h).veths).toEqual([]);
      expect(await networks(h, "s")).toMatchObject({ net1: { IPAddress: "" }, net2: { IPAddress: "" } });
      expectCode(await h.box("network", "connect", "net2", "s"), 1);

      expectOk(await h.box("start", "s"));
      const eth1 = expectOk(await h.box("exec", "s", "ip", "-4", "-o", "addr", "show", "eth1")).stdout;
      expect(inSubnet(/inet (\S+)\//.exec(eth1)![1]!, sub2)).toBe(true);
      expect(networkState(h).veths).toHaveLength(2);
      expectOk(await h.box("restart", "-t", "1", "s"));
      expect(expectOk(await h.box("exec", "s", "ls", "/sys/class/net")).stdout.split(/\s+/).filter(Boolean)).toEqual(["eth0", "eth1", "lo"]);
      expectOk(await h.box("rm", "-f", "s"));
      expect(networkState(h).veths).toEqual([]);

      // A foreground box run connected while it runs: its exit (which cannot fork) takes eth1 too.
      const fg = h.box("run", "--name", "fg", "--network", "net1", "busybox", "sh", "-c", "while [ ! -e /sys/class/net/eth1 ]; do sleep 0.1; done; echo up");
      for (let i = 0; i < 100 && networkState(h).veths.length === 0; i++) await sleep(50);
      expectOk(await h.box("network", "connect", "net2", "fg"));
      const done = expectOk(await fg);
      expect(done.stdout).toBe("up\n");
      expect(done.stderr).toBe("");
      expect(networkState(h).veths).toEqual([]);
      expectOk(await h.box("rm", "fg"));
      expectOk(await h.box("network", "rm", "net1", "net2"));
    }));

  it("refuses what Docker refuses: one line, exit 1, nothing made", () =>
    withBox(async (h) => {
      const sub2 = freeSubnet();
      expectOk(await h.box("network", "create", "--subnet", freeSubnet(), "net1"));
      expectOk(await h.box("network", "create", "--subnet", sub2, "net2"));
      const aId = expectOk(await h.box("run", "-d", "--name", "a", "--network", "net1", "busybox", "sleep", "300")).stdout.trim();
      expectOk(await h.box("run", "-d", "--name", "h", "--network", "host", "busybox", "sleep", "300"));
      expectOk(await h.box("run", "-d", "--name", "n", "--network", "none", "busybox", "sleep", "300"));
      expectOk(await h.box("network", "connect", "net2", "a"));
      const before = networkState(h);
      const outside = sub2.replace(/^10\.(\d+)\.(\d+)\.0\/24$/, (_, x: string, y: string) => `10.${x}.${(Number(y) + 1) % 256}.9`);
      const cases: [string[], RegExp][] = [
        [["network", "connect", "net2", "a"], /^box: endpoint with name a already exists in network net2$/],
        [["network", "connect", "net1", "a"], /^box: endpoint with name a already exists in network net1$/],
        [["network", "connect", "nosuchnet", "a"], /^box: network nosuchnet not found$/],
        [["network", "connect", "net2", "nosuchctr"], /^box: No such container: nosuchctr$/],
        [["network", "connect", "host", "a"], /^box: container cannot be disconnected from host network or connected to host network$/],
        [["network", "connect", "net2", "h"], /^box: container cannot be disconnected from host network or connected to host network$/],
        [["network", "connect", "net2", "n"], /^box: container cannot be connected to multiple networks with one of the networks in private \(none\) mode$/],
        [["network", "disconnect", "host", "h"], /^box: container cannot be disconnected from host network or connected to host network$/],
        [["network", "disconnect", "net2", "n"], new RegExp(`^box: container [0-9a-f]{64} is not connected to network net2$`)],
        [["network", "disconnect", "net1", "a"], /^box: container a was run on network net1: box disconnects only the networks added with box network connect$/],
        [["network", "disconnect", "nosuchnet", "a"], /^box: network nosuchnet not found$/],
        [["network", "disconnect", "net2", "nosuchctr"], /^box: No such container: nosuchctr$/],
        [["network", "connect", "bridge", "a", "--ip", "10.1"], /^box: invalid address '10\.1': an IPv4 address$/],
      ];
      const refused = async (list: [string[], RegExp][]) => {
        for (const [args, re] of list) {
          const r = expectCode(await h.box(...args), 1, args.join(" "));
          expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
          expect(r.stderr.trim(), args.join(" ")).toMatch(re);
        }
      };
      await refused(cases);
      expect(networkState(h)).toEqual(before);
      expectOk(await h.box("network", "disconnect", "net2", "a"));
      await refused([
        [["network", "disconnect", "net2", "a"], new RegExp(`^box: container ${aId} is not connected to network net2$`)],
        [["network", "connect", "--ip", outside, "net2", "a"], /^box: address \S+ is not a host address of network net2/],
      ]);
      // Nothing half-made: a's net2 interface went with the disconnect above, and no refusal made one.
      expect(networkState(h).veths).toHaveLength(before.veths.length - 1);
      expect(Object.keys(await networks(h, "a"))).toEqual(["net1"]);
      expect(expectOk(await h.box("exec", "a", "ls", "/sys/class/net")).stdout.split(/\s+/).filter(Boolean)).toEqual(["eth0", "lo"]);
      expect(expectOk(await h.box("network", "connect", "--help")).stdout).toMatch(/^Usage: {2}box network connect \[OPTIONS\] NETWORK CONTAINER/);
      expectOk(await h.box("rm", "-f", "a", "h", "n"));
      expectOk(await h.box("network", "rm", "net1", "net2"));
    }));
});

describe("netns-bridge attach and detach", () => {
  it("attach gives an endpoint ethN on another network, detach and rm take it away, gc follows a dead owner", async () => {
    const h = await harness();
    const nb = (...args: string[]) => h.tool("netns-bridge", ...args);
    const sleeper = spawnSync("true"); // a pid that is surely gone, for --owner below
    try {
      const sub2 = freeSubnet();
      expectOk(await nb("network", "create", "n1", "--subnet", freeSubnet()));
      expectOk(await nb("network", "create", "n2", "--subnet", sub2));
      expectOk(await nb("create", "x", "--network", "n1", "--hostname", "xh"));
      expectOk(await nb("create", "y", "--network", "n2"));
      expect(expectOk(await nb("attach", "x", "--network", "n2", "--alias", "xa")).stdout).toBe("eth1\n");
      const x = JSON.parse(expectOk(await nb("inspect", "x")).stdout) as { netnsPath: string; attachments: { iface: string; ip: string; network: string }[] };
      expect(x.attachments).toMatchObject([{ iface: "eth1", network: "n2" }]);
      const ip = x.attachments[0]!.ip;
      expect(inSubnet(ip, sub2)).toBe(true);
      expect(expectOk(await nb("hosts", "y")).stdout).toContain(`${ip}\tx xh xa\n`);
      const addr = expectOk(await h.run(["nsenter", `--net=${x.netnsPath}`, "ip", "-4", "-o", "addr", "show", "eth1"])).stdout;
      expect(addr).toContain(`inet ${ip}/24`);

      const refusals: [string[], number, RegExp][] = [
        [["attach", "x", "--network", "n2"], 1, /^netns-bridge: endpoint x already exists on network n2$/],
        [["attach", "nope", "--network", "n2"], 1, /^netns-bridge: endpoint nope not found$/],
        [["attach", "x", "--network", "nonet"], 1, /^netns-bridge: network nonet not found$/],
        [["attach", "x"], 2, /^netns-bridge: attach needs --network$/],
        [["detach", "x", "--network", "n1"], 1, /^netns-bridge: network n1 is the one endpoint x was made on/],
        [["detach", "y", "--network", "n1"], 1, /^netns-bridge: endpoint y is not on network n1$/],
        [["attach", "y", "--network", "n1", "--hostname", "q"], 2, /^netns-bridge: --hostname needs 'create'$/],
      ];
      for (const [args, code, re] of refusals) expect(expectCode(await nb(...args), code, args.join(" ")).stderr.split("\n")[0]).toMatch(re);

      expect(expectOk(await nb("detach", "x", "--network", "n2")).stdout).toBe("eth1\n");
      expect(expectOk(await nb("hosts", "y")).stdout).not.toContain("\tx");
      expect(networkState(h).veths).toHaveLength(2);
      // rm of an attached endpoint removes its attachments too.
      expectOk(await nb("attach", "x", "--network", "n2"));
      expect(networkState(h).veths).toHaveLength(3);
      expectOk(await nb("rm", "x"));
      expect(networkState(h).veths).toHaveLength(1);
      // gc: an endpoint whose owner is gone goes with its attachments.
      expectOk(await nb("create", "z", "--network", "n1", "--owner", String(sleeper.pid)));
      expectOk(await nb("attach", "z", "--network", "n2"));
      const gc = expectOk(await nb("gc")).stdout;
      expect(gc).toContain("endpoint z on n1: owner pid");
      expect(gc).toContain("attachment eth1 of z on n2: endpoint z is gone");
      expectOk(await nb("rm", "y"));
      expectOk(await nb("network", "rm", "n1", "n2"));
      expect(networkState(h)).toEqual({ bridges: [], veths: [], table: false, netns: [] });
    } finally {
      await h.cleanup();
    }
  });
});
