import { describe, expect, it } from "vitest";
import { hostsFor } from "./hosts.js";
import type { Endpoint, Network } from "./state.js";

const ep = (name: string, ip: string, more: Partial<Endpoint> = {}): Endpoint => ({
  name, ip, mac: "", hostVeth: "", netnsPath: "", extraHosts: [], publish: [], created: "", ...more,
});

describe("hostsFor", () => {
  const eps = {
    web: ep("web", "10.1.0.2", { hostname: "www" }),
    db: ep("db", "10.1.0.3", { extraHosts: [{ host: "mirror", ip: "10.9.9.9" }] }),
  };
  it("lists the others on a user network by name", () => {
    const h = hostsFor({ name: "app", endpoints: eps } as unknown as Network, "db");
    expect(h).toMatch(/^127\.0\.0\.1\tlocalhost\n/);
    expect(h).toContain("10.1.0.3\tdb\n10.9.9.9\tmirror\n10.1.0.2\tweb www\n");
  });
  it("lists only itself on the default network", () => {
    const h = hostsFor({ name: "box0", endpoints: eps } as unknown as Network, "web");
    expect(h).toContain("10.1.0.2\twww web\n");
    expect(h).not.toContain("db");
  });
  it("lists aliases with the name", () => {
    const h = hostsFor({ name: "app", endpoints: { ...eps, c1: ep("c1", "10.1.0.4", { hostname: "abc", aliases: ["api"] }) } } as unknown as Network, "web");
    expect(h).toContain("10.1.0.4\tc1 abc api\n");
  });
  it("lists an attached endpoint on both networks, and its neighbours on both to it", () => {
    const app = { name: "app", endpoints: eps } as unknown as Network;
    const other = {
      name: "other",
      endpoints: { web: ep("web", "10.2.0.5", { hostname: "www", aliases: ["front"], iface: "eth1" }), q: ep("q", "10.2.0.2") },
    } as unknown as Network;
    const web = hostsFor([app, other], "web");
    expect(web).toContain("10.1.0.2\twww web\n10.2.0.5\twww web front\n");
    expect(web).toContain("10.1.0.3\tdb\n");
    expect(web).toContain("10.2.0.2\tq\n");
    expect(hostsFor([app, other], "q")).toContain("10.2.0.5\tweb www front\n");
    expect(hostsFor([app, other], "q")).not.toContain("db");
    expect(hostsFor([app, other], "db")).not.toContain("10.2.0");
  });
});
