import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const LOADER = join(__dirname, "..", "loader.cjs");
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Run `file` through the loader as a tool's bin file does, with `verb` as its first argument. */
function run(file: string, verb: string) {
  const bin = join(dir, "bin.cjs");
  writeFileSync(bin, `require(${JSON.stringify(LOADER)}).run(${JSON.stringify(file)});\n`);
  return spawnSync(process.execPath, [bin, verb], { encoding: "utf8" });
}

describe("loader", () => {
  it("writes a code cache per verb, and never runs one made for other source of the same length", () => {
    dir = mkdtempSync(join(tmpdir(), "loader-"));
    const file = join(dir, "tool.cjs");
    writeFileSync(file, 'process.stdout.write("A" + process.argv.length);\n');
    expect(run(file, "run").stdout).toBe("A3");
    const cache = `${file}.run.cache`;
    expect(existsSync(cache)).toBe(true);
    expect(run(file, "run").stdout).toBe("A3");
    // Same length, other code: V8 alone would take the cache (it checks the length only).
    writeFileSync(file, 'process.stdout.write("B" + process.argv.length);\n');
    expect(run(file, "run").stdout).toBe("B3");
    expect(readFileSync(cache).length).toBeGreaterThan(32);
    // Another verb has its own; a non-verb first argument shares "main".
    run(file, "ps");
    run(file, "--version");
    expect(existsSync(`${file}.ps.cache`) && existsSync(`${file}.main.cache`)).toBe(true);
  });
});
