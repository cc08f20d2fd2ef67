/**
 * Classic BPF for seccomp: the few opcodes a filter needs, and a small
 * assembler with labels. Conditional jumps reach at most 255 instructions
 * ahead (8-bit offsets): `jmp` must stay that short (the assembler refuses
 * anything else), `jmpFar` becomes a conditional jump over a `ja` (32-bit
 * offset) only where its target is out of reach.
 */

export const BPF = {
  LD_W_ABS: 0x20,
  ALU_AND_K: 0x54,
  JA: 0x05,
  JEQ_K: 0x15,
  JGT_K: 0x25,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;

/** struct seccomp_data offsets (little-endian: the low word of an argument first). */
export const DATA = {
  nr: 0,
  arch: 4,
  argLo: (i: number) => 16 + 8 * i,
  argHi: (i: number) => 20 + 8 * i,
} as const;

export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** The kernel's BPF_MAXINSNS. */
export const MAX_INSNS = 4096;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A jump target: a label name, or "next" (offset 0). */
export type Target = string | 0;

type Item =
  | { label: string }
  | { code: number; k: number; jt?: Target; jf?: Target; ja?: string; far?: string };

export class Assembler {
  private items: Item[] = [];
  private n = 0;

  /** A fresh label name. */
  newLabel(hint = "L"): string {
    return `${hint}${this.n++}`;
  }

  label(name: string): this {
    this.items.push({ label: name });
    return this;
  }

  ld(offset: number): this {
    this.items.push({ code: BPF.LD_W_ABS, k: offset });
    return this;
  }

  and(k: number): this {
    this.items.push({ code: BPF.ALU_AND_K, k: k >>> 0 });
    return this;
  }

  jmp(code: number, k: number, jt: Target, jf: Target): this {
    this.items.push({ code, k: k >>> 0, jt, jf });
    return this;
  }

  /** Go to `to`, however far, when the condition holds; fall through otherwise. */
  jmpFar(code: number, k: number, to: string): this {
    this.items.push({ code, k: k >>> 0, far: to });
    return this;
  }

  ja(to: string): this {
    this.items.push({ code: BPF.JA, k: 0, ja: to });
    return this;
  }

  ret(k: number): this {
    this.items.push({ code: BPF.RET_K, k: k >>> 0 });
    return this;
  }

  assemble(): Insn[] {
    const labels = new Set<string>();
    for (const it of this.items)
      if ("label" in it) {
        if (labels.has(it.label)) throw new Error(`bpf: label ${it.label} defined twice`);
        labels.add(it.label);
      }
    // Far jumps start as one conditional jump and grow into two where the
    // target is out of reach; growing only lengthens other jumps, so this settles.
    const long = new Set<Item>();
    const size = (it: Item) => ("label" in it ? 0 : it.far !== undefined && long.has(it) ? 2 : 1);
    let at = new Map<string, number>();
    for (let grew = true; grew; ) {
      at = new Map();
      let pc = 0;
      for (const it of this.items) {
        if ("label" in it) at.set(it.label, pc);
        pc += size(it);
      }
      grew = false;
      pc = 0;
      for (const it of this.items) {
        if (!("label" in it) && it.far !== undefined && !long.has(it) && (at.get(it.far) ?? 0) - pc - 1 > 255) {
          long.add(it);
          grew = true;
        }
        pc += size(it);
      }
    }
    const out: Insn[] = [];
    const rel = (t: Target | undefined, pc: number, wide: boolean): number => {
      if (t === undefined || t === 0) return 0;
      const to = at.get(t);
      if (to === undefined) throw new Error(`bpf: undefined label ${t}`);
      const off = to - pc - 1;
      if (off < 0 || (!wide && off > 255)) throw new Error(`bpf: jump to ${t} out of range (${off})`);
      return off;
    };
    for (const it of this.items) {
      if ("label" in it) continue;
      const pc = out.length;
      if (it.far !== undefined && long.has(it)) {
        out.push({ code: it.code, k: it.k, jt: 0, jf: 1 });
        out.push({ code: BPF.JA, jt: 0, jf: 0, k: rel(it.far, pc + 1, true) });
      } else if (it.far !== undefined) out.push({ code: it.code, k: it.k, jt: rel(it.far, pc, false), jf: 0 });
      else if (it.ja !== undefined) out.push({ code: it.code, jt: 0, jf: 0, k: rel(it.ja, pc, true) });
      else out.push({ code: it.code, k: it.k, jt: rel(it.jt, pc, false), jf: rel(it.jf, pc, false) });
    }
    if (out.length > MAX_INSNS) throw new Error(`bpf: program has ${out.length} instructions, the kernel takes at most ${MAX_INSNS}`);
    return out;
  }
}

/** struct sock_filter[], in this machine's byte order (the kernel reads it natively). */
export function encode(prog: Insn[]): Buffer {
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    b.writeUInt16LE(p.code, i * 8);
    b.writeUInt8(p.jt, i * 8 + 2);
    b.writeUInt8(p.jf, i * 8 + 3);
    b.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return b;
}

export function decode(b: Buffer): Insn[] {
  if (b.length === 0 || b.length % 8 !== 0) throw new Error(`not a BPF program: ${b.length} bytes is not a positive multiple of 8`);
  if (b.length / 8 > MAX_INSNS) throw new Error(`BPF program has ${b.length / 8} instructions, the kernel takes at most ${MAX_INSNS}`);
  const out: Insn[] = [];
  for (let i = 0; i < b.length; i += 8) out.push({ code: b.readUInt16LE(i), jt: b.readUInt8(i + 2), jf: b.readUInt8(i + 3), k: b.readUInt32LE(i + 4) });
  return out;
}

/** One instruction per line, in the style of `seccomp-tools disasm`. */
export function disassemble(prog: Insn[]): string {
  const hex = (k: number) => "0x" + (k >>> 0).toString(16);
  const ret = (k: number) => {
    const action = k & 0xffff0000;
    const data = k & 0xffff;
    const name = Object.entries(RET).find(([, v]) => (v >>> 0) === (action >>> 0))?.[0];
    return name ? (data ? `${name}(${data})` : name) : hex(k);
  };
  return prog
    .map((p, pc) => {
      const line = String(pc).padStart(4, "0");
      const jt = pc + 1 + p.jt;
      const jf = pc + 1 + p.jf;
      switch (p.code) {
        case BPF.LD_W_ABS:
          return `${line}: A = data[${p.k}]`;
        case BPF.ALU_AND_K:
          return `${line}: A &= ${hex(p.k)}`;
        case BPF.JA:
          return `${line}: goto ${pc + 1 + p.k}`;
        case BPF.RET_K:
          return `${line}: return ${ret(p.k)}`;
        case BPF.JEQ_K:
        case BPF.JGT_K:
        case BPF.JGE_K:
        case BPF.JSET_K: {
          const op = { [BPF.JEQ_K]: "==", [BPF.JGT_K]: ">", [BPF.JGE_K]: ">=", [BPF.JSET_K]: "&" }[p.code];
          return `${line}: if (A ${op} ${hex(p.k)}) goto ${jt} else goto ${jf}`;
        }
        default:
          return `${line}: code=${hex(p.code)} jt=${p.jt} jf=${p.jf} k=${hex(p.k)}`;
      }
    })
    .join("\n");
}
