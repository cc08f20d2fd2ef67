// box build end to end: Dockerfile -> RUN sandboxes and COPY layers -> an image box runs, with
// the cache, Docker's history forms, and nothing left behind by a failed build.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, formatResult, harness, importBusybox, leaks, type Harness, type RunResult } from "./lib/harness.js";
import { startRegistry } from "./lib/registry.js";

let h: Harness;
let work: string;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
  work = mkdtempSync(join(tmpdir(), "boxbuild-"));
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await h?.cleanup();
});

let n = 0;
/** A fresh context dir holding `files` (Dockerfile included). */
function context(files: Record<string, string>): string {
  const dir = join(work, `ctx${++n}`);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

const build = (...args: string[]) => h.box("build", "--progress", "plain", ...args, { timeoutMs: 60_000 });
const steps = (r: RunResult, word: "CACHED" | "DONE") =>
  r.stderr.split("\n").flatMap((l, i, all) => (new RegExp(`^#(\\d+) ${word}`).test(l) ? [all.find((x) => x.startsWith(`#${/^#(\d+)/.exec(l)?.[1]} [`)) ?? ""] : [])).filter((l) => l !== "" && !l.includes("[internal]"));
const history = async (img: string) => expectOk(await h.box("history", "--no-trunc", "--format", "{{.CreatedBy}}", img)).stdout.trim().split("\n");

/** No mount, process, container or build scratch dir of this harness is left. */
function expectClean(): void {
  expect(formatLeaks(leaks(h))).toBe("");
  const tmp = join(h.root, "builder", "tmp");
  expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
}

const MULTI = `# a two-stage build
ARG BASE=busybox
FROM \${BASE} AS build
ARG MSG=hello
RUN echo "$MSG from the build stage" > /out.txt \\
 && echo built
FROM busybox
WORKDIR /app
COPY --from=build /out.txt ./
COPY a.txt b.txt data/
ENV GREETING=hi
CMD ["sh", "-c", "cat /app/out.txt /app/data/a.txt; echo $GREETING"]
`;

describe("box build", () => {
  it("builds a multi-stage Dockerfile that box runs, and rebuilds it all from cache", async () => {
    const ctx = context({ Dockerfile: MULTI, "a.txt": "A\n", "b.txt": "B\n" });
    const r = expectOk(await build("-t", "multi:1", ctx));
    expect(r.stderr).toMatch(/^#\d+ \[build 2\/2\] RUN echo "\$MSG from the build stage"/m);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d{3} built$/m);
    expect(r.stderr).toMatch(/^#\d+ \[stage-1 3\/4\] COPY --from=build \/out.txt \.\/$/m);
    expect(r.stderr).toMatch(/^#\d+ DONE \d+\.\ds$/m);
    expect(r.stderr).toMatch(/naming to multi:1 done/);
    expect(expectOk(await h.box("run", "--rm", "multi:1")).stdout).toBe("hello from the build stage\nA\nhi\n");
    const id = expectOk(await h.box("image-inspect", "--format", "{{.Id}}", "multi:1")).stdout.trim();

    const again = expectOk(await build("-t", "multi:1", ctx));
    expect(steps(again, "DONE").filter((l) => !/FROM|exporting/.test(l))).toEqual([]);
    expect(steps(again, "CACHED")).toHaveLength(4);
    expect(expectOk(await h.box("image-inspect", "--format", "{{.Id}}", "multi:1")).stdout.trim()).toBe(id);
    expectClean();
  });

  it("reruns from a changed copied file on, and only from there", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN echo one > /1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n", "a.txt": "first\n" });
    expectOk(await build("-t", "touch:1", ctx));
    writeFileSync(join(ctx, "a.txt"), "second\n");
    const r = expectOk(await build("-t", "touch:1", ctx));
    expect(steps(r, "CACHED")).toEqual([expect.stringContaining("RUN echo one > /1")]);
    expect(steps(r, "DONE").filter((l) => /COPY|RUN/.test(l))).toEqual([expect.stringContaining("COPY a.txt /a.txt"), expect.stringContaining("RUN cat /a.txt > /copy")]);
    expect(expectOk(await h.box("run", "--rm", "touch:1", "cat", "/copy")).stdout).toBe("second\n");
    // --no-cache runs every step again.
    const all = expectOk(await build("--no-cache", "-t", "touch:1", ctx));
    expect(steps(all, "CACHED")).toEqual([]);
  });

  it("substitutes ARG and ENV as Docker's reference does", async () => {
    const ctx = context({
      Dockerfile: [
        "ARG VERSION=latest",
        "FROM busybox:$VERSION",
        "ARG VERSION",
        "ARG USER_ARG=someuser",
        "ENV abc=hello",
        "ENV abc=bye def=$abc",
        "ENV ghi=$abc",
        "ENV dflt=${UNSET:-fallback} plus=${abc:+set} lit=\\$abc",
        "WORKDIR /w/${abc}",
        "RUN echo \"v=$VERSION u=$USER_ARG def=$def ghi=$ghi $dflt $plus $lit\" > /vars; pwd >> /vars",
        "",
      ].join("\n"),
    });
    const r = expectOk(await build("--build-arg", "USER_ARG=cli", "--build-arg", "UNUSED=1", "-t", "args:1", ctx));
    expect(r.stderr).toContain("[Warning] One or more build-args [UNUSED] were not consumed");
    expect(expectOk(await h.box("run", "--rm", "args:1", "cat", "/vars")).stdout).toBe("v=latest u=cli def=hello ghi=bye fallback set $abc\n/w/bye\n");
    const hist = await history("args:1");
    expect(hist).toContain('RUN |2 VERSION=latest USER_ARG=cli /bin/sh -c echo "v=$VERSION u=$USER_ARG def=$def ghi=$ghi $dflt $plus $lit" > /vars; pwd >> /vars');
    // ARG values stay out of the image's environment.
    const env = expectOk(await h.box("run", "--rm", "args:1", "env")).stdout;
    expect(env).not.toContain("USER_ARG");
    expect(env).toContain("def=hello");
  });

  it("leaves out what .dockerignore excludes", async () => {
    const ctx = context({
      Dockerfile: "FROM busybox\nCOPY . /ctx/\n",
      ".dockerignore": "*.log\nsecret/\n!keep.log\n",
      "a.log": "x",
      "keep.log": "k",
      "secret/key": "s",
      "src/main.c": "int main;",
    });
    expectOk(await build("-t", "ignore:1", ctx));
    const r = expectOk(await h.box("run", "--rm", "ignore:1", "find", "/ctx", "-type", "f"));
    expect(r.stdout.trim().split("\n").sort()).toEqual(["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/keep.log", "/ctx/src/main.c"]);
    const ctx2 = context({ Dockerfile: "FROM busybox\nCOPY secret.txt /\n", ".dockerignore": "secret.txt\n", "secret.txt": "s" });
    const bad = expectCode(await build(ctx2), 1);
    expect(bad.stderr).toMatch(/Dockerfile:2: COPY secret.txt \/: "\/secret.txt": not found/);
  });

  it("stores metadata steps as empty layers with Docker's history forms", async () => {
    const ctx = context({
      Dockerfile: [
        "FROM busybox",
        "LABEL a=b",
        "EXPOSE 80 53/udp",
        "USER 1000:1000",
        "VOLUME /data",
        "STOPSIGNAL SIGINT",
        "SHELL [\"/bin/sh\", \"-c\"]",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        "ONBUILD RUN echo child",
        "COPY f /f",
        "CMD [\"sh\"]",
        "",
      ].join("\n"),
      f: "x",
    });
    expectOk(await build("-t", "meta:1", ctx));
    const hist = await history("meta:1");
    expect(hist[0]).toBe('/bin/sh -c #(nop)  CMD ["sh"]');
    expect(hist[1]).toMatch(/^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/f$/);
    expect(hist).toContain("/bin/sh -c #(nop)  LABEL a=b");
    expect(hist).toContain("/bin/sh -c #(nop)  EXPOSE 80/tcp 53/udp");
    const cfg = JSON.parse(expectOk(await h.box("image-inspect", "meta:1")).stdout) as Array<{ Config: Record<string, unknown> }> | { Config: Record<string, unknown> };
    const c = (Array.isArray(cfg) ? cfg[0] : cfg)?.Config as Record<string, unknown>;
    expect(c.User).toBe("1000:1000");
    expect(c.StopSignal).toBe("SIGINT");
    expect(c.ExposedPorts).toEqual({ "53/udp": {}, "80/tcp": {} });
    expect(c.Labels).toEqual({ a: "b" });
    expect(c.Healthcheck).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 5e9, Retries: 2 });
    expect(c.OnBuild).toEqual(["RUN echo child"]);
  });

  it("runs a RUN step in a cgroup of its own, as box run's containers, and removes it after", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN (grep -E ':(pids|devices):' /proc/self/cgroup || grep '^0::' /proc/self/cgroup) > /cg\n" });
    expectOk(await build("--no-cache", "-t", "cg:1", ctx));
    const lines = expectOk(await h.box("run", "--rm", "cg:1", "cat", "/cg")).stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(new RegExp(`/${h.env.BOX_CGROUP_PARENT ?? "box"}/build-[0-9a-f]{24}$`));
    expectOk(await h.box("rmi", "cg:1"));
    expectClean();
  });

  it("fails a RUN with its exit code and step, and leaves nothing half-made", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN echo before\nRUN echo doomed; exit 3\n" });
    const before = expectOk(await h.box("images", "-q")).stdout;
    const r = expectCode(await build("-t", "fail:1", ctx), 1);
    expect(r.stderr).toMatch(/Dockerfile:3: RUN echo doomed; exit 3: process "\/bin\/sh -c echo doomed; exit 3" did not complete successfully: exit code: 3/);
    expect(r.stderr).toMatch(/^#\d+ \d+\.\d+ doomed$/m);
    expect(r.stderr).toMatch(/^#\d+ ERROR: /m);
    expect(expectOk(await h.box("images", "-q")).stdout).toBe(before);
    expectClean();
  });

  it("refuses bad input with one line naming file and line", async () => {
    const cases: Array<[string, RegExp, Record<string, string>?]> = [
      ["FROM busybox\nRUN true\nFOO bar\n", /^box: Dockerfile:3: unknown instruction: FOO$/m],
      ["FROM busybox\nCOPY missing.txt /\n", /Dockerfile:2: COPY missing.txt \/: "\/missing.txt": not found/],
      ["FROM busybox\nCOPY ../x /\n", /Dockerfile:2: COPY \.\.\/x \/: forbidden path outside the build context: \.\.\/x/],
      ["FROM busybox\nCOPY --from=nostage /x /\n", /Dockerfile:2: COPY --from=nostage: no build stage or image named nostage/],
      ["FROM busybox\nRUN echo \"unterminated\nCOPY --bogus=1 a b\n", /Dockerfile:3: unknown flag: --bogus/],
      ["FROM busybox\nENV\n", /Dockerfile:2: ENV requires at least one argument/],
      ["FROM busybox\nONBUILD ONBUILD RUN true\n", /^box: Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed$/m],
      ["FROM busybox\nRUN true\nONBUILD FROM busybox\n", /^box: Dockerfile:3: FROM isn't allowed as an ONBUILD trigger$/m],
      ["FROM busybox\nONBUILD MAINTAINER me\n", /^box: Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger$/m],
      ["FROM busybox\nONBUILD FOO bar\n", /^box: Dockerfile:2: ONBUILD FOO bar: unknown instruction: FOO$/m],
      ["FROM busybox\nRUN true\nRUN --mount=type=secret,id=x true\n", /^box: Dockerfile:3: RUN --mount=type=secret,id=x: --mount=type=secret is not supported by box build$/m],
      ["FROM busybox\nRUN --mount=type=cache true\n", /^box: Dockerfile:2: RUN --mount=type=cache: mount destination \(target\) not set$/m],
      ["FROM busybox\nRUN --mount=from=nostage,target=/x true\n", /^box: Dockerfile:2: RUN --mount=from=nostage: no build stage or image named nostage: /m],
    ];
    for (const [df, re] of cases) {
      const r = expectCode(await build("-t", "bad:1", context({ Dockerfile: df })), 1);
      expect(r.stderr, df).toMatch(re);
      // Checked before the first step: no stage even started.
      if (/ONBUILD|--mount/.test(df)) expect(r.stderr, df).not.toMatch(/^#\d+ \[\d+\/\d+\]/m);
    }
    expect(expectOk(await h.box("images")).stdout).not.toMatch(/^bad /m);
    expectClean();
  });

  it("gives the same layers for the same input with SOURCE_DATE_EPOCH and --no-cache", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nCOPY a /a\nRUN echo x > /x && mkdir -p /d/e\n", a: "a\n" });
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const one = expectOk(await h.box("build", "-q", "--no-cache", ctx, { env })).stdout.trim();
    const two = expectOk(await h.box("build", "-q", "--no-cache", ctx, { env })).stdout.trim();
    expect(two).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(two).toBe(one);
  });

  it("prints only the image id with -q, and builder prune drops the cache", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN echo q > /q\n" });
    const r = expectOk(await h.box("build", "-q", ctx));
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(r.stderr).toBe("");
    expectOk(await h.box("builder", "prune", "-f"));
    expect(existsSync(join(h.root, "builder", "cache"))).toBe(false);
    const again = expectOk(await build(ctx));
    expect(steps(again, "CACHED")).toEqual([]);
  });

  it("ADD unpacks a local tar, COPY takes heredocs, globs, --chown and --chmod; an unreachable URL is a clear error", async () => {
    const ctx = context({ Dockerfile: "", "one.txt": "1", "two.txt": "2", "other.md": "m" });
    mkdirSync(join(ctx, "t"));
    writeFileSync(join(ctx, "t", "inner"), "in tar\n");
    expectOk(await h.run(["tar", "-czf", join(ctx, "t.tar.gz"), "-C", join(ctx, "t"), "inner"]));
    writeFileSync(
      join(ctx, "Dockerfile"),
      "FROM busybox\nADD t.tar.gz /x/\nCOPY *.txt /g/\nCOPY --chown=1:2 --chmod=0700 one.txt /o\nCOPY <<EOF /h\nhello $HOSTNAME\nEOF\nRUN <<EOF\necho from heredoc > /r\nEOF\n",
    );
    expectOk(await build("-t", "add:1", ctx));
    const r = expectOk(await h.box("run", "--rm", "add:1", "sh", "-c", "cat /x/inner; ls /g; stat -c '%u:%g %a' /o; cat /h /r"));
    expect(r.stdout).toBe("in tar\none.txt\ntwo.txt\n1:2 700\nhello \nfrom heredoc\n");
    const bad = expectCode(await build(context({ Dockerfile: "FROM busybox\nADD http://127.0.0.1:59999/nothing.tar /\n" })), 1);
    expect(bad.stderr).toMatch(/Dockerfile:2: ADD http:\/\/127.0.0.1:59999\/nothing.tar \/: http:\/\/127.0.0.1:59999\/nothing.tar: the URL is not reachable \(ECONNREFUSED\)/);
    expectClean();
  });

  it("pushes the built image to the test registry; podman pulls and runs it; --pull fetches a base again", async () => {
    const reg = await startRegistry();
    // podman gets a store of its own, so the host's images and containers are never touched.
    const store = mkdtempSync(join(tmpdir(), "boxbuild-podman-"));
    const podman = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--tmpdir", join(store, "tmp"), "--storage-driver", "overlay"];
    const pod = (...args: string[]) => h.run(["podman", ...podman, ...args], { timeoutMs: 60_000 });
    try {
      const ctx = context({ Dockerfile: MULTI, "a.txt": "A\n", "b.txt": "B\n" });
      const ref = `${reg.host}/boxbuild/multi:1`;
      expectOk(await build("-t", ref, ctx));
      expect(expectOk(await h.box("push", ref)).stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      const hist = await history(ref);
      expect(hist.slice(0, 5)).toEqual([
        '/bin/sh -c #(nop)  CMD ["sh","-c","cat /app/out.txt /app/data/a.txt; echo $GREETING"]',
        "/bin/sh -c #(nop)  ENV GREETING=hi",
        expect.stringMatching(/^\/bin\/sh -c #\(nop\) COPY multi:[0-9a-f]{64} in \/app\/data$/),
        expect.stringMatching(/^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/app$/),
        "/bin/sh -c #(nop) WORKDIR /app",
      ]);

      expectOk(await pod("pull", "-q", "--tls-verify=false", ref));
      const runArgs = ["--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref];
      expect(expectOk(await pod(...runArgs, "cat", "/app/out.txt")).stdout).toBe("hello from the build stage\n");
      expect(expectOk(await pod(...runArgs)).stdout).toBe("hello from the build stage\nA\nhi\n");
      expect(expectOk(await pod("ps", "-a", "-q")).stdout).toBe("");

      // FROM an image box has: used as it is; with --pull, asked of its registry again.
      const child = context({ Dockerfile: `FROM ${ref}\nRUN cat /app/out.txt > /again\n` });
      const plain = expectOk(await build(child));
      expect(plain.stderr).not.toContain("load metadata");
      const pulled = expectOk(await build("--pull", "-t", "pulled:1", child));
      expect(pulled.stderr).toMatch(new RegExp(`^#\\d+ \\[internal\\] load metadata for ${ref.replace(/[.]/g, "\\.")}$`, "m"));
      expect(pulled.stderr).toMatch(/^#\d+ resolve \S+@sha256:[0-9a-f]{64} \(up to date\)$/m);
      expect(expectOk(await h.box("run", "--rm", "pulled:1", "cat", "/again")).stdout).toBe("hello from the build stage\n");
    } finally {
      spawnSync("podman", [...podman, "rm", "-a", "-f"], { stdio: "ignore" });
      spawnSync("podman", [...podman, "rmi", "-a", "-f"], { stdio: "ignore" });
      const mounted = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "").filter((t) => t.startsWith(`${store}/`));
      for (const t of mounted.sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", t]);
      rmSync(store, { recursive: true, force: true });
      await reg.stop();
    }
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(store);
    expectClean();
  });

  it("runs a base image's ONBUILD triggers right after FROM; the child keeps none", async () => {
    expectOk(await build("-t", "onbuild-base:1", context({ Dockerfile: "FROM busybox\nONBUILD RUN echo hi > /onbuild\nonbuild COPY . /app\n" })));
    const base = JSON.parse(expectOk(await h.box("image", "inspect", "onbuild-base:1")).stdout) as Array<{ Config: { OnBuild?: string[] | null } }>;
    expect(base[0]?.Config.OnBuild).toEqual(["RUN echo hi > /onbuild", "COPY . /app"]);
    const ctx = context({ Dockerfile: "FROM onbuild-base:1\nRUN cat /onbuild /app/f > /seen\n", f: "from the child's context\n" });
    const r = expectOk(await build("-t", "onbuild-child:1", ctx));
    expect(r.stderr).toMatch(/^#\d+ \[2\/4\] RUN echo hi > \/onbuild$/m);
    expect(r.stderr).toMatch(/^#\d+ \[3\/4\] COPY \. \/app$/m);
    expect(expectOk(await h.box("run", "--rm", "onbuild-child:1", "sh", "-c", "cat /seen; ls /app")).stdout).toBe("hi\nfrom the child's context\nDockerfile\nf\n");
    const child = JSON.parse(expectOk(await h.box("image", "inspect", "onbuild-child:1")).stdout) as Array<{ Config: { OnBuild?: string[] | null } }>;
    expect(child[0]?.Config.OnBuild ?? null).toBeNull();
    // A grandchild runs no trigger: the child kept none.
    const g = expectOk(await build(context({ Dockerfile: "FROM onbuild-child:1\nRUN test ! -e /grand && echo ok > /grand\n" })));
    expect(g.stderr).not.toContain("/onbuild");
    expectClean();
  });

  it("ADD fetches a URL on the host: mode 0600, mtime from Last-Modified, the content in the cache key", async () => {
    let body = "served over http\n";
    const modified = new Date("2021-03-04T05:06:07Z");
    const server = createServer((req, res) => {
      if (req.url === "/file.txt") res.writeHead(200, { "last-modified": modified.toUTCString(), "content-type": "text/plain" }).end(body);
      else if (req.url === "/plain.txt") res.writeHead(200).end("no date\n");
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    try {
      const ctx = context({ Dockerfile: `FROM busybox\nADD ${base}/file.txt /dl/\nADD ${base}/plain.txt /named\n` });
      expectOk(await build("-t", "url:1", ctx));
      const r = expectOk(await h.box("run", "--rm", "url:1", "sh", "-c", "cat /dl/file.txt /named; stat -c '%n %a %u:%g' /dl/file.txt /named; stat -c %Y /dl/file.txt"));
      expect(r.stdout).toBe(`served over http\nno date\n/dl/file.txt 600 0:0\n/named 600 0:0\n${modified.getTime() / 1000}\n`);

      expect(steps(expectOk(await build("-t", "url:1", ctx)), "CACHED")).toHaveLength(2);
      body = "changed on the server\n";
      const again = expectOk(await build("-t", "url:1", ctx));
      // The changed download reruns its step, and so the one after it.
      expect(steps(again, "DONE").filter((l) => l.includes("ADD"))).toEqual([expect.stringContaining("/file.txt /dl/"), expect.stringContaining("/plain.txt /named")]);
      expect(steps(again, "CACHED")).toEqual([]);
      expect(expectOk(await h.box("run", "--rm", "url:1", "cat", "/dl/file.txt")).stdout).toBe("changed on the server\n");

      const missing = expectCode(await build(context({ Dockerfile: `FROM busybox\nADD ${base}/missing /x\n` })), 1);
      expect(missing.stderr).toMatch(new RegExp(`^box: Dockerfile:2: ADD ${base}/missing /x: failed to GET ${base}/missing with status 404 Not Found$`, "m"));
      const sum = "sha256:" + "0".repeat(64);
      const mismatch = expectCode(await build(context({ Dockerfile: `FROM busybox\nADD --checksum=${sum} ${base}/plain.txt /x\n` })), 1);
      expect(mismatch.stderr).toMatch(/Dockerfile:2: ADD --checksum=\S+ \S+ \/x: digest mismatch sha256:0{64}: sha256:[0-9a-f]{64}$/m);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    expectClean();
  });

  it("shows the compact view on a terminal: the running step's output, then one line per step", async () => {
    const ctx = context({ Dockerfile: "FROM busybox\nRUN echo tty-out; sleep 0.3\nCOPY f /f\n", f: "x" });
    // script(1) gives box a terminal for stderr; --progress auto then picks the compact view.
    const cmd = ["box", "build", "-t", "tty:1", ctx].join(" ");
    const r = expectOk(await h.run(["script", "-qec", cmd, "/dev/null"], { timeoutMs: 60_000 }));
    const out = r.stdout.replace(/\r/g, "");
    expect(out, formatResult(r)).toMatch(/^\[\+\] Building\n/);
    expect(out).toContain(" => => # tty-out\n");
    expect(out).toMatch(/\x1b\[\d+F\x1b\[J => \[2\/3\] RUN echo tty-out; sleep 0\.3  \d+\.\ds\n/);
    expect(out).toMatch(/ => \[3\/3\] COPY f \/f  \d+\.\ds\n/);
    expect(out).toMatch(/\[\+\] Building \d+\.\ds \(6\/6\) FINISHED\n$/);
    expect(out).not.toMatch(/^#\d+ /m);
    const again = expectOk(await h.run(["script", "-qec", `${cmd.replace("build", "build --progress tty")}`, "/dev/null"], { timeoutMs: 60_000 }));
    expect(again.stdout).toMatch(/ => CACHED \[2\/3\] RUN echo tty-out; sleep 0\.3  0\.0s/);
  });

  it("RUN --mount: a cache kept between builds, binds from the context and a stage, tmpfs; none in the layer", async () => {
    const ctx = context({
      Dockerfile: [
        "FROM busybox AS tools",
        "RUN mkdir /tools && echo 'from the tools stage' > /tools/msg",
        "FROM busybox",
        "RUN --mount=type=cache,target=/var/cache/thing echo run >> /var/cache/thing/log && wc -l < /var/cache/thing/log > /count",
        "RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /from-context && ! touch /src/new 2>/dev/null",
        "RUN --mount=from=tools,source=/tools,target=/t cat /t/msg > /from-stage",
        "RUN --mount=type=bind,target=/w,rw touch /w/scratch && ls /w > /rw-list",
        "RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep -q ' /scratch tmpfs' /proc/mounts && echo ok > /tmpfs-ok",
        "",
      ].join("\n"),
      "src/a.txt": "in the context\n",
      ".dockerignore": "secret.txt\n",
      "secret.txt": "s",
    });
    const show = ["sh", "-c", "cat /count /from-context /from-stage /rw-list /tmpfs-ok; for p in /var/cache /src /t /w /scratch; do test -e $p && echo left $p; done; true"];
    expectOk(await build("-t", "mounts:1", ctx));
    expect(expectOk(await h.box("run", "--rm", "mounts:1", ...show)).stdout).toBe("1\nin the context\nfrom the tools stage\nDockerfile\nscratch\nsrc\nok\n");
    // The rw bind wrote to a throwaway copy: the context is as it was.
    expect(existsSync(join(ctx, "scratch"))).toBe(false);
    // The cache mount outlives the build (even --no-cache) until builder prune.
    expectOk(await build("--no-cache", "-t", "mounts:1", ctx));
    expect(expectOk(await h.box("run", "--rm", "mounts:1", "cat", "/count")).stdout).toBe("2\n");
    // A bound file's change reruns that step (and those after it) only.
    writeFileSync(join(ctx, "src", "a.txt"), "changed\n");
    const r = expectOk(await build("-t", "mounts:1", ctx));
    expect(steps(r, "CACHED").filter((l) => l.includes("RUN"))).toEqual([expect.stringContaining("mkdir /tools"), expect.stringContaining("type=cache")]);
    expectOk(await h.box("builder", "prune", "-f"));
    expect(existsSync(join(h.root, "builder", "cache", "mounts"))).toBe(false);
    expectOk(await build("--no-cache", "-t", "mounts:1", ctx));
    expect(expectOk(await h.box("run", "--rm", "mounts:1", "cat", "/count", "/from-context")).stdout).toBe("1\nchanged\n");
    expectClean();
  });

  it("RUN --mount=type=cache,sharing=locked makes a second build wait; sharing=private gives it a directory of its own", async () => {
    const mounts = join(h.root, "builder", "cache", "mounts");
    /** The cache directory whose `log` has `line`, once the first build's step wrote it. */
    const holding = async (line: string) => {
      for (let i = 0; i < 400; i++) {
        for (const d of existsSync(mounts) ? readdirSync(mounts) : []) {
          const log = join(mounts, d, "log");
          if (existsSync(log) && readFileSync(log, "utf8").includes(line)) return d;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no cache log with ${line}`);
    };
    for (const sharing of ["locked", "private"]) {
      const m = `--mount=type=cache,id=${sharing},target=/c,sharing=${sharing}`;
      const first = context({ Dockerfile: `FROM busybox\nRUN ${m} echo start1 ${sharing} >> /c/log && sleep 2 && echo end1 >> /c/log\n` });
      const second = context({ Dockerfile: `FROM busybox\nRUN ${m} (cat /c/log 2>/dev/null | wc -l) > /seen && echo start2 >> /c/log && echo end2 >> /c/log\n` });
      const a = build("-t", `${sharing}:1`, first);
      // The second starts while the first one's step is in its cache.
      const dir = await holding(`start1 ${sharing}`);
      const b = build("-t", `${sharing}:2`, second);
      expectOk(await a);
      expectOk(await b);
      const seen = expectOk(await h.box("run", "--rm", `${sharing}:2`, "cat", "/seen")).stdout.trim();
      if (sharing === "locked") {
        // It waited for the first writer: the log is whole steps, one after the other.
        expect(readFileSync(join(mounts, dir, "log"), "utf8")).toBe("start1 locked\nend1\nstart2\nend2\n");
        expect(seen).toBe("2");
      } else {
        // A second instance beside the first, kept for later steps; each log is one writer's.
        expect(readFileSync(join(mounts, dir, "log"), "utf8")).toBe("start1 private\nend1\n");
        expect(readFileSync(join(mounts, `${dir}.1`, "log"), "utf8")).toBe("start2\nend2\n");
        expect(seen).toBe("0");
      }
      expectOk(await h.box("rmi", `${sharing}:1`, `${sharing}:2`));
    }
    expectOk(await h.box("builder", "prune", "-f"));
    expectClean();
  });

  it("has --help", async () => {
    expect(expectOk(await h.box("build", "--help")).stdout).toMatch(/^Usage: {2}box build \[OPTIONS\] PATH/);
  });
});
