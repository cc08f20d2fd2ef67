import { describe, expect, it } from "vitest";
import { networkConfig, parseAddHost, parseDns, parseNetworkMode, parsePublish, publishAll, resolvConf } from "./network.js";

describe("parseNetworkMode", () => {
  it("maps Docker's names", () => {
    expect(parseNetworkMode(undefined)).toEqual({ kind: "bridge", network: "box0" });
    expect(parseNetworkMode("bridge")).toEqual({ kind: "bridge", network: "box0" });
    expect(parseNetworkMode("none")).toEqual({ kind: "none" });
    expect(parseNetworkMode("host")).toEqual({ kind: "host" });
    expect(parseNetworkMode("container:web")).toEqual({ kind: "container", container: "web" });
    expect(parseNetworkMode("appnet")).toEqual({ kind: "bridge", network: "appnet" });
  });
  it("refuses bad names", () => {
    expect(() => parseNetworkMode("container:")).toThrow(/needs a container/);
    expect(() => parseNetworkMode("a b")).toThrow(/invalid network name/);
  });
});

describe("parsePublish", () => {
  it("reads the forms of -p", () => {
    expect(parsePublish("8080:80")).toEqual([{ hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, proto: "tcp" }]);
    expect(parsePublish("127.0.0.1:8080:80/udp")).toEqual([{ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, proto: "udp" }]);
    expect(parsePublish("80")[0]!.hostPort).toBe(0);
    expect(parsePublish("8000-8001:80-81").map((m) => m.hostPort)).toEqual([8000, 8001]);
  });
  it("refuses out-of-range ports and odd shapes", () => {
    expect(() => parsePublish("99999:80")).toThrow(/invalid host port '99999'/);
    expect(() => parsePublish("80:0")).toThrow(/invalid container port/);
    expect(() => parsePublish("80:80/icmp")).toThrow(/invalid protocol/);
    expect(() => parsePublish("8000-8002:80")).toThrow(/differ in length/);
  });
  it("-P publishes EXPOSE on free ports", () =>
    expect(publishAll(["80/tcp", "53/udp"])).toEqual([
      { hostIp: "0.0.0.0", hostPort: 0, containerPort: 80, proto: "tcp" },
      { hostIp: "0.0.0.0", hostPort: 0, containerPort: 53, proto: "udp" },
    ]));
});

describe("--add-host and --dns", () => {
  it("reads HOST:IP, HOST=IP, IPv6 and host-gateway", () => {
    expect(parseAddHost("db:10.0.0.5")).toEqual({ host: "db", ip: "10.0.0.5" });
    expect(parseAddHost("db=10.0.0.5")).toEqual({ host: "db", ip: "10.0.0.5" });
    expect(parseAddHost("v6:::1")).toEqual({ host: "v6", ip: "::1" });
    expect(parseAddHost("v6=[fe80::1]")).toEqual({ host: "v6", ip: "fe80::1" });
    expect(parseAddHost("gw:host-gateway")).toEqual({ host: "gw", ip: "host-gateway" });
    expect(() => parseAddHost("db")).toThrow(/HOST:IP/);
    expect(() => parseAddHost("db:10.0.0")).toThrow(/bad address/);
  });
  it("checks nameservers and writes resolv.conf", () => {
    expect(parseDns("1.1.1.1")).toBe("1.1.1.1");
    expect(parseDns("2001:db8::1")).toBe("2001:db8::1");
    expect(() => parseDns("dns.example")).toThrow(/invalid --dns/);
    expect(resolvConf(["10.0.0.2"], ["example.com"])).toBe("nameserver 10.0.0.2\nsearch example.com\n");
  });
});

describe("networkConfig", () => {
  it("collects everything for a bridge network", () => {
    const c = networkConfig({ network: "app", publish: ["8080:80"], ip: "10.5.0.9", addHost: ["db:10.0.0.5"], dns: ["10.0.0.2"] });
    expect(c).toMatchObject({ mode: { kind: "bridge", network: "app" }, ip: "10.5.0.9", dns: ["10.0.0.2"], warnings: [] });
    expect(c.publish).toHaveLength(1);
  });
  it("follows Docker on conflicts", () => {
    expect(networkConfig({ network: "host", publish: ["80:80"] }).warnings[0]).toMatch(/discarded/);
    expect(() => networkConfig({ network: "container:x", publish: ["80:80"] })).toThrow(/conflicting options: port publishing/);
    expect(() => networkConfig({ network: "none", ip: "10.0.0.2" })).toThrow(/--ip needs a bridge network/);
    expect(() => networkConfig({ publish: ["80:80", "80:81"] })).toThrow(/published twice/);
  });
});
