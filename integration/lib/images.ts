// Test images for the security tests: busybox plus the static probe
// (integration/probe/probe.c), and variants that plant symlinks where a
// runtime mounts, built as tars and imported with `mkroot import`.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busyboxTar, expectOk, repoRoot, type Harness } from "./harness.js";

const PROBE_C = join(repoRoot, "integration", "probe", "probe.c");

/** The probe, compiled static (it runs in a busybox root without a libc), cached by source hash. */
export async function probeBinary(h: Harness): Promise<string> {
  const src = readFileSync(PROBE_C);
  const out = join(tmpdir(), `box-test-probe-${createHash("sha256").update(src).digest("hex").slice(0, 16)}`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}`;
  expectOk(await h.run(["cc", "-static", "-O2", "-Wall", "-o", tmp, PROBE_C]), "build the probe (needs cc and a static libc)");
  renameSync(tmp, out);
  return out;
}

/**
 * Import NAME: busybox with /probe, changed by `edit(dir)` before it is
 * tarred. The tar is made by GNU tar with numeric owners, as a layer would be.
 */
export async function importImage(h: Harness, name: string, edit: (dir: string) => void = () => {}): Promise<void> {
  const dir = join(h.root, "build", name.replace(/[^a-z0-9]/g, "_"));
  mkdirSync(dir, { recursive: true });
  try {
    expectOk(await h.run(["tar", "-xf", await busyboxTar(), "-C", dir]), "unpack busybox");
    expectOk(await h.run(["cp", await probeBinary(h), join(dir, "probe")]), "add the probe");
    edit(dir);
    const tar = `${dir}.tar`;
    expectOk(await h.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-cf", tar, "-C", dir, "."]), `tar ${name}`);
    expectOk(await h.tool("mkroot", "import", "--change", 'CMD ["sh"]', name, tar), `import ${name}`);
    rmSync(tar);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "a=OK\nb=EPERM\n" -> { a: "OK", b: "EPERM" } */
export function results(stdout: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z0-9_]+)=(\S+)$/.exec(line);
    if (m) r[m[1]!] = m[2]!;
  }
  return r;
}
