/**
 * Docker seccomp profile -> classic BPF, the way Docker and runc build it
 * with libseccomp:
 *
 * 1. Docker's setupSeccomp: keep the rules whose includes hold and whose
 *    excludes do not, for this architecture, these capabilities (the
 *    container's bounding set) and this kernel.
 * 2. runc: skip names unknown on this architecture (chown32 on x86_64), skip
 *    rules whose action is the default one, split a rule with two conditions
 *    on one argument into one rule per condition (ORed).
 * 3. runc's patchbpf: a syscall numbered above every one the profile names
 *    gets ENOSYS instead of the default action, so that a libc probing a
 *    newer syscall falls back to the old one.
 *
 * The program checks the architecture first. Other architectures (i386
 * syscalls through int 0x80, x32) are killed: Docker's archMap would allow
 * them through their own tables, which box does not carry yet.
 */
import { release } from "node:os";
import { Assembler, BPF, DATA, RET, encode, type Insn } from "./bpf.js";
import { ALL_CAPS, capNames, normaliseCap } from "./caps.js";
import type { Arg, Filter, Profile } from "./profile.js";
import { ProfileError } from "./profile.js";
import { ARCHES, hostArch, syscallNumber, type Arch } from "./syscalls/index.js";

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

/** Steps 1 and 2: the profile reduced to concrete rules for one machine. */
export function resolveRules(p: Profile, o: Required<CompileOptions>): { defaultAction: number; rules: Rule[] } {
  const arch = ARCHES[o.arch];
  const caps = capNames(o.caps);
  const archNames: readonly string[] = arch.names;
  const defaultAction = actionValue(p.defaultAction, p.defaultErrnoRet);
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
  const rules: Rule[] = [];
  for (const r of p.syscalls ?? []) {
    if (!applies(r.includes, r.excludes)) continue;
    const action = actionValue(r.action, r.errnoRet, EPERM);
    if (action === defaultAction) continue;
    const names = r.name !== undefined ? [r.name] : (r.names ?? []);
    const args = r.args ?? [];
    const perIndex = new Map<number, number>();
    for (const a of args) perIndex.set(a.index, (perIndex.get(a.index) ?? 0) + 1);
    const split = [...perIndex.values()].some((n) => n > 1);
    const condSets = split ? args.map((a) => [a]) : [args];
    for (const name of names) {
      const nr = syscallNumber(o.arch, name);
      if (nr === undefined) continue;
      for (const conds of condSets) rules.push({ nr, name, conds, action });
    }
  }
  return { defaultAction, rules };
}

const hi32 = (v: number) => Math.floor(v / 0x100000000) >>> 0;
const lo32 = (v: number) => v >>> 0;

/** Jump to `pass` when the condition holds, to `fail` otherwise; falls through to `pass` when it is next. */
function emitCond(a: Assembler, c: Arg, pass: string, fail: string): void {
  const lo = DATA.argLo(c.index);
  const hi = DATA.argHi(c.index);
  const v = c.value;
  switch (c.op) {
    case "SCMP_CMP_EQ":
      a.ld(hi).jmp(BPF.JEQ_K, hi32(v), 0, fail).ld(lo).jmp(BPF.JEQ_K, lo32(v), pass, fail);
      break;
    case "SCMP_CMP_NE":
      a.ld(hi).jmp(BPF.JEQ_K, hi32(v), 0, pass).ld(lo).jmp(BPF.JEQ_K, lo32(v), fail, pass);
      break;
    case "SCMP_CMP_MASKED_EQ": {
      const d = c.valueTwo ?? 0;
      a.ld(hi).and(hi32(v)).jmp(BPF.JEQ_K, hi32(d), 0, fail).ld(lo).and(lo32(v)).jmp(BPF.JEQ_K, lo32(d), pass, fail);
      break;
    }
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

function emitLeaf(a: Assembler, leaf: Leaf): void {
  if ("ret" in leaf) {
    a.ret(leaf.ret);
    return;
  }
  // Conditional rules in profile order, first match wins; then the
  // unconditional one (or the default).
  for (const r of leaf.rules) {
    const next = a.newLabel("rule");
    const conds = r.conds;
    conds.forEach((c, i) => {
      const pass = i === conds.length - 1 ? a.newLabel("ok") : a.newLabel("and");
      emitCond(a, c, pass, next);
      a.label(pass);
    });
    a.ret(r.action);
    a.label(next);
  }
  a.ret(leaf.fallback);
}

export function compileProfile(p: Profile, opts: CompileOptions = {}): Insn[] {
  const arch = opts.arch ?? hostArch();
  if (arch === undefined) throw new ProfileError(`no syscall table for this machine (${process.arch})`);
  const o: Required<CompileOptions> = { arch, caps: opts.caps ?? ALL_CAPS, kernel: opts.kernel ?? release() };
  const { defaultAction, rules } = resolveRules(p, o);

  // Per syscall number: one unconditional action, and conditional rules.
  const byNr = new Map<number, { uncond?: number; cond: Rule[] }>();
  for (const r of rules) {
    const e = byNr.get(r.nr) ?? { cond: [] };
    if (r.conds.length === 0) e.uncond ??= r.action;
    else e.cond.push(r);
    byNr.set(r.nr, e);
  }
  const maxNr = Math.max(-1, ...byNr.keys());
  const beyond = defaultAction === RET.ALLOW || defaultAction === RET.LOG ? defaultAction : (RET.ERRNO | ENOSYS) >>> 0;

  // Ranges of consecutive numbers with the same simple outcome, each a leaf
  // of a binary search tree on the syscall number.
  const ranges: { start: number; leaf: Leaf }[] = [];
  for (let nr = 0; nr <= maxNr + 1; nr++) {
    const e = byNr.get(nr);
    let leaf: Leaf;
    if (nr > maxNr) leaf = { ret: beyond };
    else if (!e) leaf = { ret: defaultAction };
    else if (e.cond.length === 0) leaf = { ret: e.uncond! };
    else leaf = { rules: e.cond, fallback: e.uncond ?? defaultAction };
    const prev = ranges[ranges.length - 1];
    if (prev && "ret" in prev.leaf && "ret" in leaf && prev.leaf.ret === leaf.ret) continue;
    ranges.push({ start: nr, leaf });
  }

  const a = new Assembler();
  const A = ARCHES[arch];
  a.ld(DATA.arch).jmp(BPF.JEQ_K, A.audit, "native", 0).ret(RET.KILL_PROCESS).label("native");
  a.ld(DATA.nr);
  if (A.x32Bit !== undefined) a.jmp(BPF.JGE_K, A.x32Bit, 0, "notx32").ret(RET.KILL_PROCESS).label("notx32");
  const tree = (rs: typeof ranges): void => {
    if (rs.length === 1) return emitLeaf(a, rs[0]!.leaf);
    const mid = rs.length >> 1;
    const right = a.newLabel("ge");
    // A holds the syscall number on every path into the tree (leaves load
    // arguments only after their last comparison).
    a.jmp(BPF.JGE_K, rs[mid]!.start, 0, "skip" + right).ja(right).label("skip" + right);
    tree(rs.slice(0, mid));
    a.label(right);
    tree(rs.slice(mid));
  };
  tree(ranges);
  return a.assemble();
}

export function compileToBuffer(p: Profile, opts: CompileOptions = {}): Buffer {
  return encode(compileProfile(p, opts));
}
