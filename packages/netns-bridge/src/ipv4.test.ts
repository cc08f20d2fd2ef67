import { describe, expect, it } from "vitest";
import { broadcast, formatCidr, formatIp, isHost, macFor, overlaps, parseCidr, parseIp } from "./ipv4.js";

describe("ipv4", () => {
  it("parses and formats addresses", () => {
    expect(formatIp(parseIp("172.17.0.2")!)).toBe("172.17.0.2");
    expect(parseIp("255.255.255.255")).toBe(0xffffffff);
    for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "a.b.c.d", "1.2.3.4 "]) expect(parseIp(bad)).toBeNull();
  });
  it("parses CIDRs, refusing host bits unless loose", () => {
    expect(formatCidr(parseCidr("10.1.2.0/24")!)).toBe("10.1.2.0/24");
    expect(parseCidr("10.1.2.3/24")).toBeNull();
    expect(formatCidr(parseCidr("10.1.2.3/24", true)!)).toBe("10.1.2.0/24");
    expect(parseCidr("10.0.0.0/33")).toBeNull();
    expect(formatCidr(parseCidr("0.0.0.0/0")!)).toBe("0.0.0.0/0");
  });
  it("knows overlap, broadcast and host addresses", () => {
    const a = parseCidr("172.17.0.0/16")!;
    expect(overlaps(a, parseCidr("172.17.5.0/24")!)).toBe(true);
    expect(overlaps(a, parseCidr("172.16.0.0/12")!)).toBe(true);
    expect(overlaps(a, parseCidr("172.18.0.0/16")!)).toBe(false);
    expect(formatIp(broadcast(a))).toBe("172.17.255.255");
    expect(isHost(a, parseIp("172.17.0.0")!)).toBe(false);
    expect(isHost(a, parseIp("172.17.255.255")!)).toBe(false);
    expect(isHost(a, parseIp("172.17.0.1")!)).toBe(true);
    expect(isHost(a, parseIp("172.18.0.1")!)).toBe(false);
  });
  it("derives the MAC from the address", () => expect(macFor(parseIp("172.17.0.2")!)).toBe("02:42:ac:11:00:02"));
});
