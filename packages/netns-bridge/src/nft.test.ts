import { describe, expect, it } from "vitest";
import { render } from "./nft.js";
import type { Network } from "./state.js";

const net = (name: string, bridge: string, subnet: string, eps: Network["endpoints"] = {}): Network => ({
  name, id: "x", driver: "bridge", bridge, subnet, gateway: "", created: "", endpoints: eps,
});

describe("render", () => {
  it("removes the table when no network is left", () =>
    expect(render("box", [])).toBe("add table ip box\ndelete table ip box\n"));
  it("masquerades each subnet, isolates the bridges and DNATs published ports", () => {
    const s = render("box", [
      net("a", "br-a", "10.1.0.0/24", {
        c1: {
          name: "c1", ip: "10.1.0.2", mac: "", hostVeth: "vb-1", netnsPath: "", extraHosts: [], created: "",
          publish: [
            { hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, proto: "tcp" },
            { hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53, proto: "udp" },
          ],
        },
      }),
      net("b", "br-b", "10.2.0.0/24"),
    ]);
    expect(s).toContain('ip saddr 10.1.0.0/24 oifname != "br-a" masquerade');
    expect(s).toContain('ip saddr 127.0.0.0/8 oifname "br-b" masquerade');
    expect(s).toContain('iifname "br-a" oifname { "br-b" } drop');
    expect(s).toContain('tcp dport 8080 dnat to 10.1.0.2:80 comment "c1"');
    expect(s).toContain('ip daddr 127.0.0.1 udp dport 5353 dnat to 10.1.0.2:53');
    expect(s.startsWith("add table ip box\ndelete table ip box\ntable ip box {")).toBe(true);
  });
});
