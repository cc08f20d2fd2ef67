import { describe, expect, it } from "vitest";
import { validateAttach, validateEndpoint, validateNetwork } from "./validate.js";

describe("validateNetwork", () => {
  it("accepts a name, a subnet and a gateway in it", () =>
    expect(validateNetwork({ name: "web", subnet: "10.10.0.0/24", gateway: "10.10.0.254" })).toMatchObject({ name: "web", gateway: 0x0a0a00fe }));
  it("refuses reserved and bad names", () => {
    for (const n of ["none", "host", "bridge"]) expect(() => validateNetwork({ name: n })).toThrow(/reserved/);
    expect(() => validateNetwork({ name: "a/b" })).toThrow(/invalid network name/);
  });
  it("refuses bad subnets and gateways", () => {
    expect(() => validateNetwork({ name: "n", subnet: "10.0.0.1/24" })).toThrow(/no host bits/);
    expect(() => validateNetwork({ name: "n", subnet: "10.0.0.0/30" })).toThrow(/\/8 to \/29/);
    expect(() => validateNetwork({ name: "n", subnet: "127.1.0.0/16" })).toThrow(/reserved range 127.0.0.0\/8/);
    expect(() => validateNetwork({ name: "n", subnet: "10.0.0.0/24", gateway: "10.0.1.1" })).toThrow(/not a host address/);
    expect(() => validateNetwork({ name: "n", subnet: "10.0.0.0/24", gateway: "10.0.0.255" })).toThrow(/not a host address/);
    expect(() => validateNetwork({ name: "n", gateway: "10.0.0.1" })).toThrow(/--gateway needs --subnet/);
  });
});

describe("validateEndpoint", () => {
  it("defaults to box0 and expands -p specs", () => {
    const v = validateEndpoint({ name: "c1", publish: ["8000-8001:80-81", "53:53/udp"] });
    expect(v.network).toBe("box0");
    expect(v.publish.map((m) => `${m.hostPort}:${m.containerPort}/${m.proto}`)).toEqual(["8000:80/tcp", "8001:81/tcp", "53:53/udp"]);
  });
  it("refuses bad input before anything is made", () => {
    expect(() => validateEndpoint({ name: "c1", publish: ["99999:80"] })).toThrow(/invalid host port '99999'/);
    expect(() => validateEndpoint({ name: "c1", publish: ["80:80", "80:81"] })).toThrow(/published twice/);
    expect(() => validateEndpoint({ name: "c1", ip: "10.0.0" })).toThrow(/invalid address/);
    expect(() => validateEndpoint({ name: "-x" })).toThrow(/invalid endpoint name/);
    expect(() => validateEndpoint({ name: "c1", hostname: "a_b" })).toThrow(/invalid hostname/);
    expect(() => validateEndpoint({ name: "c1", extraHosts: [{ host: "db", ip: "nope" }] })).toThrow(/invalid address 'nope'/);
    expect(() => validateEndpoint({ name: "c1", network: "host" })).toThrow(/reserved/);
  });
});

describe("validateAttach", () => {
  it("takes a name, a network, an address and aliases", () =>
    expect(validateAttach({ name: "c1", network: "web", ip: "10.10.0.9", aliases: ["api", "api"] })).toEqual({ name: "c1", network: "web", ip: 0x0a0a0009, aliases: ["api"] }));
  it("refuses a missing or reserved network, a bad address, a bad alias", () => {
    expect(() => validateAttach({ name: "c1", network: "" })).toThrow(/needs a network/);
    expect(() => validateAttach({ name: "c1", network: "host" })).toThrow(/reserved/);
    expect(() => validateAttach({ name: "c1", network: "web", ip: "10.1" })).toThrow(/invalid address/);
    expect(() => validateAttach({ name: "c1", network: "web", aliases: ["a b"] })).toThrow(/invalid alias/);
  });
});
