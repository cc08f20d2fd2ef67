/**
 * Docker seccomp profile -> classic BPF, the way Docker and runc build it
 * with libseccomp:
 *
 * 1. Docker's setupSeccomp: keep the rules whose includes hold and whose
 *    excludes do not, for this architecture, these capabilities (the
 *    container's bounding set) and this kernel.
 * 2. runc: skip names unknown on an ABI (chown32 on x86_64), skip rules
 *    whose action is the default one, split a rule with two conditions on one
 *    argument into one rule per condition (ORed).
 * 3. libseccomp: every ABI the profile asks for (Docker's archMap: x86_64
 *    brings i386 and x32) gets its own branch with its own numbers; on a
 *    32-bit ABI only the low word of an argument is compared; on i386 a rule
 *    for a socket or SysV IPC call also matches socketcall(2)/ipc(2) with that
 *    call number (the rule's condition on argument 0 gives way to it, as in
 *    libseccomp's abi_rule_add); an unconditional rule for a syscall
 *    overrides its conditional ones. An unknown audit arch is killed.
 * 4. runc's patchbpf: a syscall numbered above every one the profile names
 *    (on its ABI) gets ENOSYS instead of the default action, so that a libc
 *    probing a newer syscall falls back to the old one.
 */
import { release } from "node:os";
import { Assembler, BPF, DATA, RET, encode, type Insn } from "./bpf.js";
import { ALL_CAPS, capNames, normaliseCap } from "./caps.js";
import type { Arg, Filter, Profile } from "./profile.js";
import { ProfileError } from "./profile.js";
import { ABIS, ARCHES, hostArch, multiplexed, syscallNumber, type Abi, type AbiName, type Arch } from "./syscalls/index.js";

export interface CompileOptions {
  /** Default: the machine's own. */
  arch?: Arch;
  /** The container's capabilities (bounding set); default all. */
  caps?: bigint;
  /** Kernel version for minKernel; default this machine's. */
  kernel?: string;
}

const EPERM = 1;
const ENOSYS = 38;

export function actionValue(action: string, errnoRet: number | null | undefined, defaultErrno = EPERM): number {
  switch (action) {
    case "SCMP_ACT_ALLOW":
      return RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return (RET.ERRNO | ((errnoRet ?? defaultErrno) & 0xffff)) >>> 0;
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return RET.TRAP;
    case "SCMP_ACT_TRACE":
      return (RET.TRACE | ((errnoRet ?? 0) & 0xffff)) >>> 0;
    case "SCMP_ACT_LOG":
      return RET.LOG;
    default:
      throw new ProfileError(`unknown action ${action}`);
  }
}

function kernelAtLeast(have: string, want: string): boolean {
  const h = have.split(/[^\d]+/).map(Number);
  const w = want.split(".").map(Number);
  for (let i = 0; i < w.length; i++) {
    const a = h[i] ?? 0;
    const b = w[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** A rule as it reaches the filter: conditions ANDed, one action. */
export interface Rule {
  nr: number;
  name: string;
  conds: Arg[];
  action: number;
}

/** A profile rule Docker keeps for this machine, before names become numbers. */
interface Selected {
  names: string[];
  /** One set per rule runc makes of it; conditions within a set are ANDed. */
  condSets: Arg[][];
  action: number;
}

/** Step 1: Docker's rule selection and runc's splitting, the same for every ABI. */
function selectRules(p: Profile, o: Required<CompileOptions>): { defaultAction: number; selected: Selected[] } {
  const arch = ARCHES[o.arch];
  const caps = capNames(o.caps);
  const archNames: readonly string[] = arch.names;
  const defaultAction = actionValue(p.defaultAction, p.defaultErrnoRet);
  // Docker compares "arches" with the engine's own GOARCH, once, for every ABI of the filter.
  const applies = (inc: Filter | null | undefined, exc: Filter | null | undefined): boolean => {
    if (exc) {
      if (exc.arches?.some((a) => archNames.includes(a))) return false;
      if (exc.caps?.some((c) => caps.has(normaliseCap(c)))) return false;
      if (exc.minKernel && kernelAtLeast(o.kernel, exc.minKernel)) return false;
    }
    if (inc) {
      if (inc.arches?.length && !inc.arches.some((a) => archNames.includes(a))) return false;
      if (inc.caps?.length && !inc.caps.every((c) => caps.has(normaliseCap(c)))) return false;
      if (inc.minKernel && !kernelAtLeast(o.kernel, inc.minKernel)) return false;
    }
    return true;
  };
  const selected: Selected[] = [];
  for (const r of p.syscalls ?? []) {
    if (!applies(r.includes, r.excludes)) continue;
    const action = actionValue(r.action, r.errnoRet, EPERM);
    if (action === defaultAction) continue;
    const args = r.args ?? [];
    const perIndex = new Map<number, number>();
    for (const a of args) perIndex.set(a.index, (perIndex.get(a.index) ?? 0) + 1);
    const split = [...perIndex.values()].some((n) => n > 1);
    selected.push({ names: r.name !== undefined ? [r.name] : (r.names ?? []), condSets: split ? args.map((a) => [a]) : [args], action });
  }
  return { defaultAction, selected };
}

/** Step 2 for one ABI: names to that ABI's numbers, with i386's multiplexers. */
function abiRules(abi: AbiName, selected: Selected[]): Rule[] {
  const rules: Rule[] = [];
  for (const s of selected) {
    for (const name of s.names) {
      const nr = syscallNumber(abi, name);
      const mux = multiplexed(abi, name);
      for (const conds of s.condSets) {
        // libseccomp's abi_rule_add: the call number takes argument 0's place;
        // conditions on other arguments stay, though socketcall's are not the call's.
        if (mux) rules.push({ nr: mux.nr, name, conds: [{ index: 0, value: mux.call, op: "SCMP_CMP_EQ" }, ...conds.filter((c) => c.index !== 0)], action: s.action });
        if (nr !== undefined) rules.push({ nr, name, conds, action: s.action });
      }
    }
  }
  return rules;
}

/** Steps 1 and 2: the profile reduced to concrete rules for one ABI (default: the machine's own). */
export function resolveRules(p: Profile, o: Required<CompileOptions>, abi: AbiName = ARCHES[o.arch].abi): { defaultAction: number; rules: Rule[] } {
  const { defaultAction, selected } = selectRules(p, o);
  return { defaultAction, rules: abiRules(abi, selected) };
}

/**
 * The ABIs the filter covers, the machine's own first: those the profile
 * names in `architectures`, or in the `archMap` entry of the machine's own
 * (Docker's setupSeccomp), that box carries a table for. libseccomp always
 * adds the native one.
 */
export function filterAbis(p: Profile, arch: Arch): AbiName[] {
  const native = ARCHES[arch];
  const wanted = new Set<string>(p.architectures ?? []);
  for (const m of p.archMap ?? []) if (m.architecture === native.scmp) for (const s of m.subArchitectures ?? []) wanted.add(s);
  return [native.abi, ...native.compat.filter((c) => wanted.has(ABIS[c].scmp))];
}

const hi32 = (v: number) => Math.floor(v / 0x100000000) >>> 0;
const lo32 = (v: number) => v >>> 0;

/**
 * Jump to `pass` when the condition holds, to `fail` otherwise. On a 32-bit
 * ABI only the low word counts and the value is cut to 32 bits, as libseccomp
 * does ("implicitly strips off the upper 32 bit").
 */
function emitCond(a: Assembler, c: Arg, pass: string, fail: string, args32: boolean): void {
  const lo = DATA.argLo(c.index);
  const hi = DATA.argHi(c.index);
  const v = c.value;
  const m = c.valueTwo ?? 0;
  if (args32) {
    switch (c.op) {
      case "SCMP_CMP_EQ":
        a.ld(lo).jmp(BPF.JEQ_K, lo32(v), pass, fail);
        break;
      case "SCMP_CMP_NE":
        a.ld(lo).jmp(BPF.JEQ_K, lo32(v), fail, pass);
        break;
      case "SCMP_CMP_MASKED_EQ":
        a.ld(lo).and(lo32(v)).jmp(BPF.JEQ_K, lo32(m), pass, fail);
        break;
      case "SCMP_CMP_GT":
        a.ld(lo).jmp(BPF.JGT_K, lo32(v), pass, fail);
        break;
      case "SCMP_CMP_GE":
        a.ld(lo).jmp(BPF.JGE_K, lo32(v), pass, fail);
        break;
      case "SCMP_CMP_LT":
        a.ld(lo).jmp(BPF.JGE_K, lo32(v), fail, pass);
        break;
      case "SCMP_CMP_LE":
        a.ld(lo).jmp(BPF.JGT_K, lo32(v), fail, pass);
        break;
    }
    return;
  }
  switch (c.op) {
    case "SCMP_CMP_EQ":
      a.ld(hi).jmp(BPF.JEQ_K, hi32(v), 0, fail).ld(lo).jmp(BPF.JEQ_K, lo32(v), pass, fail);
      break;
    case "SCMP_CMP_NE":
      a.ld(hi).jmp(BPF.JEQ_K, hi32(v), 0, pass).ld(lo).jmp(BPF.JEQ_K, lo32(v), fail, pass);
      break;
    case "SCMP_CMP_MASKED_EQ":
      a.ld(hi).and(hi32(v)).jmp(BPF.JEQ_K, hi32(m), 0, fail).ld(lo).and(lo32(v)).jmp(BPF.JEQ_K, lo32(m), pass, fail);
      break;
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE": {
      const op = c.op === "SCMP_CMP_GT" ? BPF.JGT_K : BPF.JGE_K;
      a.ld(hi).jmp(BPF.JGT_K, hi32(v), pass, 0).jmp(BPF.JEQ_K, hi32(v), 0, fail).ld(lo).jmp(op, lo32(v), pass, fail);
      break;
    }
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE": {
      // lo < v is !(lo >= v); lo <= v is !(lo > v).
      const op = c.op === "SCMP_CMP_LT" ? BPF.JGE_K : BPF.JGT_K;
      a.ld(hi).jmp(BPF.JGT_K, hi32(v), fail, 0).jmp(BPF.JEQ_K, hi32(v), 0, pass).ld(lo).jmp(op, lo32(v), fail, pass);
      break;
    }
  }
}

type Leaf = { ret: number } | { rules: Rule[]; fallback: number };

function emitLeaf(a: Assembler, leaf: Leaf, args32: boolean): void {
  if ("ret" in leaf) {
    a.ret(leaf.ret);
    return;
  }
  // Conditional rules in profile order, first match wins; then the default.
  for (const r of leaf.rules) {
    const next = a.newLabel("rule");
    const conds = r.conds;
    conds.forEach((c, i) => {
      const pass = i === conds.length - 1 ? a.newLabel("ok") : a.newLabel("and");
      emitCond(a, c, pass, next, args32);
      a.label(pass);
    });
    a.ret(r.action);
    a.label(next);
  }
  a.ret(leaf.fallback);
}

/** Ranges of consecutive numbers with the same outcome, the leaves of one ABI's search tree. */
function abiRanges(abi: Abi, rules: Rule[], defaultAction: number): { start: number; leaf: Leaf }[] {
  // Per syscall number: one unconditional action, and conditional rules.
  const byNr = new Map<number, { uncond?: number; cond: Rule[] }>();
  const seen = new Set<string>();
  for (const r of rules) {
    const key = JSON.stringify([r.nr, r.conds, r.action]);
    if (seen.has(key)) continue; // i386's socketcall rules repeat once per socket rule
    seen.add(key);
    const e = byNr.get(r.nr) ?? { cond: [] };
    if (r.conds.length === 0) e.uncond ??= r.action;
    else e.cond.push(r);
    byNr.set(r.nr, e);
  }
  const maxNr = Math.max(abi.nrBase - 1, ...byNr.keys());
  const beyond = defaultAction === RET.ALLOW || defaultAction === RET.LOG ? defaultAction : (RET.ERRNO | ENOSYS) >>> 0;
  const ranges: { start: number; leaf: Leaf }[] = [];
  for (let nr = abi.nrBase; nr <= maxNr + 1; nr++) {
    const e = byNr.get(nr);
    let leaf: Leaf;
    if (nr > maxNr) leaf = { ret: beyond };
    else if (!e) leaf = { ret: defaultAction };
    // libseccomp: an unconditional rule for a syscall replaces its conditional ones.
    else if (e.uncond !== undefined) leaf = { ret: e.uncond };
    else leaf = { rules: e.cond, fallback: defaultAction };
    const prev = ranges[ranges.length - 1];
    if (prev && "ret" in prev.leaf && "ret" in leaf && prev.leaf.ret === leaf.ret) continue;
    ranges.push({ start: nr, leaf });
  }
  return ranges;
}

/** A binary search over the ranges; A holds the syscall number on every path in. */
function emitTree(a: Assembler, abi: Abi, rs: { start: number; leaf: Leaf }[]): void {
  if (rs.length === 1) return emitLeaf(a, rs[0]!.leaf, abi.args32);
  const mid = rs.length >> 1;
  const right = a.newLabel("ge");
  // Leaves load arguments only after their last comparison of the number.
  a.jmpFar(BPF.JGE_K, rs[mid]!.start, right);
  emitTree(a, abi, rs.slice(0, mid));
  a.label(right);
  emitTree(a, abi, rs.slice(mid));
}

export function compileProfile(p: Profile, opts: CompileOptions = {}): Insn[] {
  const arch = opts.arch ?? hostArch();
  if (arch === undefined) throw new ProfileError(`no syscall table for this machine (${process.arch})`);
  const o: Required<CompileOptions> = { arch, caps: opts.caps ?? ALL_CAPS, kernel: opts.kernel ?? release() };
  const { defaultAction, selected } = selectRules(p, o);
  const abis = filterAbis(p, arch);

  // ABIs that share an audit arch (x86_64 and x32) share a branch, split by number.
  const byAudit = new Map<number, AbiName[]>();
  for (const n of abis) byAudit.set(ABIS[n].audit, [...(byAudit.get(ABIS[n].audit) ?? []), n]);

  const a = new Assembler();
  a.ld(DATA.arch);
  for (const audit of byAudit.keys()) a.jmpFar(BPF.JEQ_K, audit, `arch${audit}`);
  a.ret(RET.KILL_PROCESS);
  for (const [audit, names] of byAudit) {
    a.label(`arch${audit}`).ld(DATA.nr);
    const group = names.map((n) => ({ name: n, abi: ABIS[n] as Abi })).sort((x, y) => y.abi.nrBase - x.abi.nrBase);
    const low = group[group.length - 1]!;
    for (const g of group.slice(0, -1)) a.jmpFar(BPF.JGE_K, g.abi.nrBase, `abi${g.name}`);
    // x32 numbers with no x32 branch: not an ABI this filter knows.
    if (low.abi.nrLimit !== undefined && group.length === 1) a.jmp(BPF.JGE_K, low.abi.nrLimit, 0, `in${low.name}`).ret(RET.KILL_PROCESS).label(`in${low.name}`);
    for (const g of [low, ...group.slice(0, -1)]) {
      if (g !== low) a.label(`abi${g.name}`);
      emitTree(a, g.abi, abiRanges(g.abi, abiRules(g.name, selected), defaultAction));
    }
  }
  return a.assemble();
}

export function compileToBuffer(p: Profile, opts: CompileOptions = {}): Buffer {
  return encode(compileProfile(p, opts));
}
