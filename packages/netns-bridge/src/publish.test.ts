import { describe, expect, it } from "vitest";
import { parsePublish } from "./publish.js";

describe("parsePublish", () => {
  it("reads HOSTPORT:CPORT as tcp on every address", () =>
    expect(parsePublish("8080:80")).toEqual([{ hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, proto: "tcp" }]));
  it("reads IP:HOSTPORT:CPORT/udp", () =>
    expect(parsePublish("127.0.0.1:5353:53/udp")).toEqual([{ hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53, proto: "udp" }]));
  it("leaves the host port to the kernel when it is missing", () => {
    expect(parsePublish("80")).toEqual([{ hostIp: "0.0.0.0", hostPort: 0, containerPort: 80, proto: "tcp" }]);
    expect(parsePublish("127.0.0.1::80")[0]!.hostPort).toBe(0);
  });
  it("expands ranges", () =>
    expect(parsePublish("8000-8001:80-81").map((m) => [m.hostPort, m.containerPort])).toEqual([[8000, 80], [8001, 81]]));
  it("refuses bad ports, protocols and shapes", () => {
    expect(() => parsePublish("99999:80")).toThrow(/invalid host port '99999' in '99999:80': ports are 1-65535/);
    expect(() => parsePublish("0:80")).toThrow(/ports are 1-65535/);
    expect(() => parsePublish("80:80/sctp")).toThrow(/invalid protocol 'sctp'/);
    expect(() => parsePublish("8000-8002:80-81")).toThrow(/ranges differ/);
    expect(() => parsePublish("81-80:80")).toThrow(/ends before/);
    expect(() => parsePublish("a:b:c:d")).toThrow(/invalid port mapping/);
    expect(() => parsePublish("300.0.0.1:80:80")).toThrow(/invalid host address/);
    expect(() => parsePublish("")).toThrow(/invalid port mapping/);
  });
});
