// The compiled default profile against the real kernel, through all three x86
// ABIs: a small C probe (abi-probe.c, built here with the machine's cc) loads
// the filter into itself and makes i386 calls with `int $0x80`, x32 calls with
// __X32_SYSCALL_BIT and native ones. Needs no root: no_new_privs is enough.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileToBuffer } from "./compile.js";
import { defaultProfile } from "./profile.js";
import { ABI_WORDS, expectedUnderDefault } from "./testutil/abi.js";

const DOCKER_CAPS = 0xa80425fbn;

const cc = spawnSync("cc", ["--version"]).status === 0;
const skip = process.arch !== "x64" ? "not an x86_64 machine" : !cc ? "no cc to build the probe" : undefined;
if (skip) console.log(`abi.test.ts: skipped: ${skip}`);

let dir = "";
let probe = "";

function runProbe(filter: string, words: string[]) {
  const r = spawnSync(probe, [filter, ...words], { encoding: "utf8" });
  const shown = `$ ${probe} ${filter} ${words.join(" ")}\nstatus ${r.status} signal ${r.signal}\nstdout:\n${r.stdout}stderr:\n${r.stderr}`;
  const results = Object.fromEntries(r.stdout.split("\n").filter(Boolean).map((l) => l.split("=") as [string, string]));
  return { ...r, results, shown };
}

describe.skipIf(skip !== undefined)("the compiled default profile on this kernel, through the x86_64, i386 and x32 ABIs", () => {
  let bare: Record<string, string> = {};
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "seccomp-abi-"));
    probe = join(dir, "abi-probe");
    const src = fileURLToPath(new URL("./abi-probe.c", import.meta.url));
    const b = spawnSync("cc", ["-O2", "-Wall", "-o", probe, src], { encoding: "utf8" });
    if (b.status !== 0) throw new Error(`cc -o ${probe} ${src}: status ${b.status}\n${b.stderr}`);
    writeFileSync(join(dir, "default.bpf"), compileToBuffer(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS }));
    writeFileSync(join(dir, "native.bpf"), compileToBuffer({ ...defaultProfile(), archMap: null }, { arch: "x86_64", caps: DOCKER_CAPS }));
    const r = runProbe("-", ["i386_getpid", "x32_getpid"]);
    if (r.status !== 0) throw new Error(`the probe fails without a filter:\n${r.shown}`);
    bare = r.results;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers each ABI with its own numbers: allowed calls run, denied ones get EPERM, none is killed", () => {
    const r = runProbe(join(dir, "default.bpf"), ABI_WORDS);
    expect(r.signal, r.shown).toBeNull();
    expect(r.status, r.shown).toBe(0);
    const want = expectedUnderDefault(bare, "abi.test.ts");
    for (const [k, v] of Object.entries(want)) expect(r.results[k], `${k}\n${r.shown}`).toBe(v);
  });

  it("kills i386 calls when the profile leaves i386 out (no archMap)", () => {
    if (bare.i386_getpid !== "OK") return console.log("abi.test.ts: skipped: no i386 ABI on this kernel");
    const r = runProbe(join(dir, "native.bpf"), ["x64_getpid", "i386_getpid"]);
    expect(r.results.x64_getpid, r.shown).toBe("OK");
    expect(r.signal, r.shown).toBe("SIGSYS");
  });
});
