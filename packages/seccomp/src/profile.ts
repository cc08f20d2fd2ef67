import { createRequire } from "node:module";
/**
 * Docker's seccomp profile format (moby profiles/seccomp, `docker run
 * --security-opt seccomp=FILE`): parsed and checked before anything is
 * compiled, with messages that name the rule at fault.
 */
import { readFileSync } from "node:fs";
import { SCMP_ARCHES } from "./syscalls/index.js";

export type Op = "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";

export interface Arg {
  index: number;
  value: number;
  valueTwo?: number;
  op: Op;
}

export interface Filter {
  caps?: string[] | null;
  arches?: string[] | null;
  minKernel?: string | null;
}

export interface SyscallRule {
  /** The old single-name form; Docker refuses both at once. */
  name?: string;
  names?: string[] | null;
  action: string;
  errnoRet?: number | null;
  args?: Arg[] | null;
  includes?: Filter | null;
  excludes?: Filter | null;
  comment?: string;
}

export interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number | null;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  syscalls?: SyscallRule[] | null;
  flags?: string[] | null;
  listenerPath?: string;
}

export const ACTIONS = [
  "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
] as const;

export const OPS: Op[] = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

/**
 * Docker's default profile, as shipped in this package (profiles/default.json).
 * Found through the package's own exports rather than a path relative to this
 * file, so that it is still found when this code is bundled into a tool.
 */
export const DEFAULT_PROFILE_PATH = createRequire(import.meta.url).resolve("@box/seccomp/profiles/default.json");

export function defaultProfile(): Profile {
  return parseProfile(readFileSync(DEFAULT_PROFILE_PATH, "utf8"), DEFAULT_PROFILE_PATH);
}

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProfileError";
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isStrList = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === "string"));
const isU64 = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

function checkAction(a: unknown, where: string): void {
  if (a === "SCMP_ACT_NOTIFY") throw new ProfileError(`${where}: action SCMP_ACT_NOTIFY needs a seccomp agent, which box does not support`);
  if (typeof a !== "string" || !(ACTIONS as readonly string[]).includes(a)) throw new ProfileError(`${where}: unknown action ${JSON.stringify(a)}`);
}

function checkFilter(f: unknown, where: string): void {
  if (f === undefined || f === null) return;
  if (!isObj(f)) throw new ProfileError(`${where}: not an object`);
  if (!isStrList(f.caps) || !isStrList(f.arches)) throw new ProfileError(`${where}: caps and arches must be lists of names`);
  if (f.minKernel !== undefined && f.minKernel !== null && (typeof f.minKernel !== "string" || !/^\d+(\.\d+)*$/.test(f.minKernel)))
    throw new ProfileError(`${where}: minKernel ${JSON.stringify(f.minKernel)} is not a kernel version`);
}

/** JSON text -> Profile, or a ProfileError naming what is wrong and where. */
export function parseProfile(text: string, from = "profile"): Profile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(`${from}: not JSON: ${(e as Error).message}`);
  }
  if (!isObj(v)) throw new ProfileError(`${from}: not a JSON object`);
  checkAction(v.defaultAction, `${from}: defaultAction`);
  if (v.defaultErrnoRet !== undefined && v.defaultErrnoRet !== null && !isU64(v.defaultErrnoRet))
    throw new ProfileError(`${from}: defaultErrnoRet must be a number`);
  if (v.listenerPath) throw new ProfileError(`${from}: listenerPath: seccomp agents are not supported`);
  if (Array.isArray(v.flags) && v.flags.length) throw new ProfileError(`${from}: flags ${v.flags.join(",")}: not supported yet`);
  if (v.architectures && v.archMap) throw new ProfileError(`${from}: 'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'`);
  if (!isStrList(v.architectures)) throw new ProfileError(`${from}: architectures must be a list of names`);
  const checkArch = (a: unknown, where: string) => {
    if (!(SCMP_ARCHES as readonly unknown[]).includes(a)) throw new ProfileError(`${where}: unknown architecture ${JSON.stringify(a)} (SCMP_ARCH_X86_64, SCMP_ARCH_X86, ...)`);
  };
  ((v.architectures ?? []) as unknown[]).forEach((a, i) => checkArch(a, `${from}: architectures[${i}]`));
  if (v.archMap !== undefined && v.archMap !== null) {
    if (!Array.isArray(v.archMap)) throw new ProfileError(`${from}: archMap must be a list`);
    v.archMap.forEach((m: unknown, i: number) => {
      const where = `${from}: archMap[${i}]`;
      if (!isObj(m)) throw new ProfileError(`${where}: not an object`);
      checkArch(m.architecture, `${where}: architecture`);
      if (!isStrList(m.subArchitectures)) throw new ProfileError(`${where}: subArchitectures must be a list of names`);
      ((m.subArchitectures ?? []) as unknown[]).forEach((a, j) => checkArch(a, `${where}: subArchitectures[${j}]`));
    });
  }
  const rules = v.syscalls ?? [];
  if (!Array.isArray(rules)) throw new ProfileError(`${from}: syscalls must be a list`);
  rules.forEach((r: unknown, i: number) => {
    const where = `${from}: syscalls[${i}]`;
    if (!isObj(r)) throw new ProfileError(`${where}: not an object`);
    if (r.name !== undefined && r.names !== undefined && r.names !== null && (r.names as unknown[]).length)
      throw new ProfileError(`${where}: use either 'name' or 'names'`);
    if (r.name !== undefined && typeof r.name !== "string") throw new ProfileError(`${where}: name must be a string`);
    if (!isStrList(r.names)) throw new ProfileError(`${where}: names must be a list of syscall names`);
    checkAction(r.action, `${where}: action`);
    if (r.errnoRet !== undefined && r.errnoRet !== null) {
      if (!isU64(r.errnoRet)) throw new ProfileError(`${where}: errnoRet must be a number`);
      if (r.action !== "SCMP_ACT_ERRNO" && r.action !== "SCMP_ACT_TRACE") throw new ProfileError(`${where}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`);
    }
    const args = r.args ?? [];
    if (!Array.isArray(args)) throw new ProfileError(`${where}: args must be a list`);
    args.forEach((a: unknown, j: number) => {
      const w = `${where}: args[${j}]`;
      if (!isObj(a)) throw new ProfileError(`${w}: not an object`);
      if (!Number.isInteger(a.index) || (a.index as number) < 0 || (a.index as number) > 5) throw new ProfileError(`${w}: index must be 0 to 5`);
      if (!isU64(a.value) || (a.valueTwo !== undefined && !isU64(a.valueTwo))) throw new ProfileError(`${w}: value and valueTwo must be unsigned numbers`);
      if (!OPS.includes(a.op as Op)) throw new ProfileError(`${w}: unknown op ${JSON.stringify(a.op)}`);
    });
    checkFilter(r.includes, `${where}: includes`);
    checkFilter(r.excludes, `${where}: excludes`);
  });
  return v as unknown as Profile;
}
