import { describe, expect, it } from "vitest";
import { applyChanges, buildImageConfig, contentKey, InvalidChangeError, isSignal } from "./config.js";

describe("applyChanges (docker import --change)", () => {
  it("takes CMD and ENTRYPOINT in exec and shell form", () => {
    expect(applyChanges({}, ['CMD ["sh", "-c", "echo hi"]'])).toEqual({ Cmd: ["sh", "-c", "echo hi"] });
    expect(applyChanges({}, ["CMD echo $HOME"])).toEqual({ Cmd: ["/bin/sh", "-c", "echo $HOME"] });
    expect(applyChanges({}, ['ENTRYPOINT ["/bin/busybox"]', "cmd sh"])).toEqual({ Entrypoint: ["/bin/busybox"], Cmd: ["/bin/sh", "-c", "sh"] });
    // Not a JSON array of strings: the shell form, as Docker falls back.
    expect(applyChanges({}, ["CMD [1, 2]"])).toEqual({ Cmd: ["/bin/sh", "-c", "[1, 2]"] });
  });

  it("takes ENV and LABEL pairs with quotes, and the legacy one-pair form", () => {
    expect(applyChanges({}, ['ENV A=1 B="two words" C=\'x y\' D=a\\ b', "ENV A=3", "ENV PATH /usr/bin:/bin"]).Env).toEqual([
      "A=3",
      "B=two words",
      "C=x y",
      "D=a b",
      "PATH=/usr/bin:/bin",
    ]);
    expect(applyChanges({}, ['LABEL b=2 a="1"', "LABEL c=3"]).Labels).toEqual({ a: "1", b: "2", c: "3" });
    expect(Object.keys(applyChanges({}, ["LABEL b=2 a=1"]).Labels ?? {})).toEqual(["a", "b"]);
  });

  it("takes WORKDIR (relative to the previous one), USER, STOPSIGNAL", () => {
    expect(applyChanges({}, ["WORKDIR /app", "WORKDIR src"]).WorkingDir).toBe("/app/src");
    expect(applyChanges({}, ["USER 1000:1000"]).User).toBe("1000:1000");
    expect(applyChanges({}, ["STOPSIGNAL SIGINT"]).StopSignal).toBe("SIGINT");
    expect(applyChanges({}, ["STOPSIGNAL 9"]).StopSignal).toBe("9");
  });

  it("expands EXPOSE specs and VOLUME lists", () => {
    expect(applyChanges({}, ["EXPOSE 80 53/udp 8000-8002/tcp"]).ExposedPorts).toEqual({
      "53/udp": {},
      "80/tcp": {},
      "8000/tcp": {},
      "8001/tcp": {},
      "8002/tcp": {},
    });
    expect(applyChanges({}, ['VOLUME ["/data", "/logs"]', "VOLUME /cache /tmp/x"]).Volumes).toEqual({
      "/cache": {},
      "/data": {},
      "/logs": {},
      "/tmp/x": {},
    });
  });

  it.each([
    ["RUN echo hi", /RUN is not a valid change instruction \(valid: CMD, ENTRYPOINT, ENV/],
    ["FROM scratch", /FROM is not a valid change instruction/],
    ["HEALTHCHECK NONE", /HEALTHCHECK is not supported by mkroot/],
    ["", /empty instruction/],
    ["CMD", /CMD requires at least one argument/],
    ["ENV A", /ENV A: missing value/],
    ["ENV =x", /ENV names can not be blank/],
    ['ENV A="open', /unterminated " quote/],
    ["EXPOSE http", /invalid port "http"/],
    ["EXPOSE 70000", /ports are 0 to 65535/],
    ["EXPOSE 90-80", /end is below start/],
    ["EXPOSE 80/icmp", /invalid protocol "icmp"/],
    ["STOPSIGNAL SIGNOPE", /invalid signal: SIGNOPE/],
    ["USER a b", /USER takes exactly one argument/],
    ['VOLUME [""]', /VOLUME specified can not be an empty string/],
  ])("rejects %j", (change, message) => {
    expect(() => applyChanges({}, [change])).toThrow(InvalidChangeError);
    expect(() => applyChanges({}, [change])).toThrow(message);
  });

  it("does not change its input", () => {
    const base = { Env: ["A=1"] };
    applyChanges(base, ["ENV A=2"]);
    expect(base).toEqual({ Env: ["A=1"] });
  });
});

describe("isSignal", () => {
  it("knows names with and without SIG, numbers and real-time signals", () => {
    for (const s of ["SIGTERM", "TERM", "sigkill", "15", "SIGRTMIN+3", "RTMAX-1"]) expect(isSignal(s), s).toBe(true);
    for (const s of ["0", "65", "SIGFOO", "", "RTMIN+99"]) expect(isSignal(s), s).toBe(false);
  });
});

describe("image config", () => {
  it("is OCI shaped and has the same content key whatever the time", () => {
    const a = buildImageConfig({ diffIds: ["sha256:aa"], config: applyChanges({}, ["CMD sh", "ENV A=1"]), created: "2020-01-01T00:00:00Z", createdBy: "x" });
    const b = buildImageConfig({ diffIds: ["sha256:aa"], config: applyChanges({}, ["ENV A=1", "CMD sh"]), created: "2024-01-01T00:00:00Z", createdBy: "x" });
    expect(a).toMatchObject({ architecture: expect.any(String), os: "linux", rootfs: { type: "layers", diff_ids: ["sha256:aa"] } });
    expect(a.history).toEqual([{ created: "2020-01-01T00:00:00Z", created_by: "x" }]);
    expect(JSON.stringify(a.config)).toBe(JSON.stringify(b.config));
    expect(contentKey(a)).toBe(contentKey(b));
    const c = buildImageConfig({ diffIds: ["sha256:aa"], config: {}, created: "2020-01-01T00:00:00Z", createdBy: "x", comment: "m" });
    expect(contentKey(c)).not.toBe(contentKey(a));
  });
});
