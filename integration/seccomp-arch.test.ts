// Docker's default seccomp profile through the other x86 ABIs, end to end:
// `box run` compiles the profile (ns-exec) and ns-init loads it; inside, a
// static probe (packages/seccomp/src/abi-probe.c, run with '-' so it loads no
// filter of its own) makes i386 calls with `int $0x80` and x32 calls with
// __X32_SYSCALL_BIT. Docker's archMap lets both through their own syscall
// tables, so allowed calls work and denied ones fail with EPERM, not SIGSYS.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, formatResult, harness, leaks, repoRoot, type Harness } from "./lib/harness.js";
import { importImage, results } from "./lib/images.js";
import { ABI_WORDS, expectedUnderDefault } from "../packages/seccomp/src/testutil/abi.js";

const ABI_PROBE_C = join(repoRoot, "packages", "seccomp", "src", "abi-probe.c");
const skip = process.arch !== "x64" ? "not an x86_64 machine" : undefined;
if (skip) console.log(`seccomp-arch.test.ts: skipped: ${skip}`);

let h: Harness;

/** The ABI probe, static (the image has no libc), cached by source hash. */
async function abiProbe(): Promise<string> {
  const src = readFileSync(ABI_PROBE_C);
  const out = join(tmpdir(), `box-test-abi-probe-${createHash("sha256").update(src).digest("hex").slice(0, 16)}`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}`;
  expectOk(await h.run(["cc", "-static", "-O2", "-Wall", "-o", tmp, ABI_PROBE_C]), "build the ABI probe (needs cc and a static libc)");
  renameSync(tmp, out);
  return out;
}

const run = async (flags: string[], ...words: string[]) => {
  const r = await h.box("run", "--rm", "--network", "none", ...flags, "abiprobe", "/abi-probe", "-", ...words);
  return { r, got: results(r.stdout) };
};

describe.skipIf(skip !== undefined)("seccomp: the default profile's i386 and x32 branches", () => {
  let bare: Record<string, string> = {};

  beforeAll(async () => {
    h = await harness();
    const bin = readFileSync(await abiProbe());
    await importImage(h, "abiprobe", (dir) => writeFileSync(join(dir, "abi-probe"), bin, { mode: 0o755 }));
    // What the kernel itself answers, with no filter at all.
    const { r, got } = await run(["--security-opt", "seccomp=unconfined"], "i386_getpid", "x32_getpid");
    expectOk(r, "the ABI probe without a filter");
    bare = got;
  }, 120_000);

  afterAll(async () => {
    await h?.cleanup();
  });

  it("i386 and x32 calls are checked against their own tables: allowed ones run, denied ones get EPERM", async () => {
    const { r, got } = await run([], ...ABI_WORDS);
    expectOk(r, "the ABI probe under the default profile"); // a SIGSYS kill would show here as 159
    const want = expectedUnderDefault(bare, "seccomp-arch.test.ts");
    for (const [k, v] of Object.entries(want)) expect(got[k], `${k}\n${formatResult(r)}`).toBe(v);
  });

  it("SYS_ADMIN opens i386 unshare and mount, as it does the native ones", async () => {
    if (bare.i386_getpid !== "OK") return console.log("seccomp-arch.test.ts: skipped: no i386 ABI on this kernel");
    const { r, got } = await run(["--cap-add", "SYS_ADMIN"], "i386_unshare", "i386_mount");
    expectOk(r);
    expect(got.i386_unshare, formatResult(r)).toBe("OK");
    expect(got.i386_mount, formatResult(r)).not.toBe("EPERM"); // through the filter; the kernel refuses the NULL arguments
  });

  it("a profile without archMap kills i386 calls with SIGSYS, as libseccomp's bad-arch action does", async () => {
    if (bare.i386_getpid !== "OK") return console.log("seccomp-arch.test.ts: skipped: no i386 ABI on this kernel");
    const profile = join(h.root, "native-only.json");
    const p = JSON.parse(readFileSync(join(repoRoot, "packages", "seccomp", "profiles", "default.json"), "utf8"));
    delete p.archMap;
    writeFileSync(profile, JSON.stringify(p));
    const { r, got } = await run(["--security-opt", `seccomp=${profile}`], "x64_getpid", "i386_getpid");
    expectCode(r, 128 + 31, "i386 getpid without the i386 branch");
    expect(got.x64_getpid).toBe("OK");
    expect(formatLeaks(leaks(h))).toBe("");
  });
});
