import { describe, expect, it } from "vitest";
import { parseLogOpts, parseRestart, parseSize } from "./policy.js";

describe("--restart and --log-opt", () => {
  it("parses restart policies as Docker", () => {
    expect(parseRestart("no")).toEqual({ Name: "no", MaximumRetryCount: 0 });
    expect(parseRestart("on-failure:3")).toEqual({ Name: "on-failure", MaximumRetryCount: 3 });
    expect(parseRestart("unless-stopped").Name).toBe("unless-stopped");
    expect(() => parseRestart("always:2")).toThrow(/maximum retry count/);
    expect(() => parseRestart("sometimes")).toThrow(/invalid restart policy/);
  });
  it("parses log sizes in units of 1024 and rejects nonsense", () => {
    expect(parseSize("10k")).toBe(10240);
    expect(parseSize("1m")).toBe(1048576);
    expect(parseSize("12")).toBe(12);
    expect(parseSize("x")).toBeUndefined();
    expect(parseLogOpts("json-file", ["max-size=1k", "max-file=3"])).toMatchObject({ maxSize: 1024, maxFile: 3 });
    expect(() => parseLogOpts("json-file", ["max-file=3"])).toThrow(/without max-size/);
    expect(() => parseLogOpts("syslog", [])).toThrow(/not supported/);
    expect(() => parseLogOpts("json-file", ["colour=red"])).toThrow(/unknown log opt/);
  });
});
