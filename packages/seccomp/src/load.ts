import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode, encode } from "./bpf.js";
import { compileProfile, type CompileOptions } from "./compile.js";
import { parseProfile } from "./profile.js";

export interface LoadOptions extends CompileOptions {
  /**
   * Keep compiled programs here, keyed by everything that decides them: the
   * profile's bytes, the options, the kernel and this compiler's own code.
   * Compiling Docker's profile costs 15-40 ms, more than the rest of a
   * container's start-up in ns-exec; a cached program is one read.
   */
  cacheDir?: string;
}

let selfHash: string | undefined;
/**
 * The compiler's own code, so a changed compiler never reads an old program:
 * this module, and the modules it compiles with when they are separate files
 * (in a tool's bundle this one file holds them all).
 */
function compilerHash(): string {
  if (selfHash === undefined) {
    const h = createHash("sha256");
    const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
    const parts = ["load", "compile", "bpf", "profile", "caps", ...["index", "x86_64", "i386", "x32", "aarch64", "recent", "multiplexed"].map((t) => `syscalls/${t}`)];
    parts.forEach((part, i) => {
      try {
        h.update(readFileSync(fileURLToPath(i === 0 ? import.meta.url : new URL(`./${part}${ext}`, import.meta.url))));
      } catch {
        // only this module itself must be readable
        if (i === 0) h.update(String(Math.random()));
      }
    });
    selfHash = h.digest("hex");
  }
  return selfHash;
}

function cacheKey(data: Buffer, opts: CompileOptions): string {
  return createHash("sha256")
    .update(data)
    .update(`\0${opts.arch ?? ""}\0${opts.caps?.toString(16) ?? "all"}\0${opts.kernel ?? release()}\0${compilerHash()}`)
    .digest("hex");
}

/**
 * A filter ready for seccomp(2), from a file that holds either a Docker JSON
 * profile (compiled here, for these capabilities) or an already compiled
 * program (`seccomp compile` output: struct sock_filter[]).
 */
export function loadFilter(path: string, opts: LoadOptions = {}): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`open seccomp profile ${path}: ${err.code ?? err.message}`);
  }
  const first = data.subarray(0, 64).toString("latin1").trimStart()[0];
  if (first === "{") {
    const { cacheDir, ...compileOpts } = opts;
    if (!cacheDir) return encode(compileProfile(parseProfile(data.toString("utf8"), path), compileOpts));
    const cached = join(cacheDir, `${cacheKey(data, compileOpts)}.bpf`);
    try {
      return readFileSync(cached);
    } catch {
      // not compiled yet
    }
    const program = encode(compileProfile(parseProfile(data.toString("utf8"), path), compileOpts));
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, program, { mode: 0o600 });
      renameSync(tmp, cached);
    } catch {
      // a cache we cannot write only costs the next run a compile
    }
    return program;
  }
  try {
    decode(data);
  } catch (e) {
    throw new Error(`${path}: neither a JSON profile nor a compiled filter: ${(e as Error).message}`);
  }
  return data;
}
