import { readFileSync } from "node:fs";
import { decode, encode } from "./bpf.js";
import { compileProfile, type CompileOptions } from "./compile.js";
import { parseProfile } from "./profile.js";

/**
 * A filter ready for seccomp(2), from a file that holds either a Docker JSON
 * profile (compiled here, for these capabilities) or an already compiled
 * program (`seccomp compile` output: struct sock_filter[]).
 */
export function loadFilter(path: string, opts: CompileOptions = {}): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`open seccomp profile ${path}: ${err.code ?? err.message}`);
  }
  const first = data.subarray(0, 64).toString("latin1").trimStart()[0];
  if (first === "{") return encode(compileProfile(parseProfile(data.toString("utf8"), path), opts));
  try {
    decode(data);
  } catch (e) {
    throw new Error(`${path}: neither a JSON profile nor a compiled filter: ${(e as Error).message}`);
  }
  return data;
}
