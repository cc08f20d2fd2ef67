/**
 * Device access: Docker's default allow-list, the v1 devices cgroup's rule
 * semantics (emulated, so v2 can reach the same state) and the eBPF program
 * that enforces that state on cgroup v2, where there is no devices.allow.
 */
import type { DeviceRule } from "./units.js";

const rwm = (type: "c" | "b", major: number | "*", minor: number | "*"): DeviceRule => ({ allow: true, type, major, minor, access: "rwm" });

/**
 * What a container may use by default: deny everything, then allow null,
 * zero, full, random, urandom, tty, console, ptmx and the pts devices. Docker
 * also allows mknod of any node (`c *:* m`, `b *:* m`) while refusing to open
 * it; this list refuses the mknod as well, so a container cannot even make a
 * disk node to hand to a more privileged process.
 */
export const DEFAULT_DEVICES: readonly DeviceRule[] = [
  { allow: false, type: "a", major: "*", minor: "*", access: "rwm" },
  rwm("c", 1, 3), // null
  rwm("c", 1, 5), // zero
  rwm("c", 1, 7), // full
  rwm("c", 1, 8), // random
  rwm("c", 1, 9), // urandom
  rwm("c", 5, 0), // tty
  rwm("c", 5, 1), // console
  rwm("c", 5, 2), // ptmx
  rwm("c", 136, "*"), // pts
];

/** A device cgroup's state: a default and the exceptions to it, as v1 keeps it. */
export interface DeviceState {
  defaultAllow: boolean;
  exceptions: Omit<DeviceRule, "allow">[];
}

const same = (a: Omit<DeviceRule, "allow">, b: Omit<DeviceRule, "allow">) => a.type === b.type && a.major === b.major && a.minor === b.minor;

const accessOr = (a: string, b: string) => "rwm".split("").filter((c) => a.includes(c) || b.includes(c)).join("");
const accessMinus = (a: string, b: string) => "rwm".split("").filter((c) => a.includes(c) && !b.includes(c)).join("");

/**
 * Apply rules as writes to v1's devices.allow and devices.deny would
 * (security/device_cgroup.c): `a` resets the default and drops every
 * exception; a rule that agrees with the default removes the access it names
 * from a matching exception; one that disagrees adds an exception.
 */
export function applyDeviceRules(rules: readonly DeviceRule[], start: DeviceState = { defaultAllow: true, exceptions: [] }): DeviceState {
  let state: DeviceState = { defaultAllow: start.defaultAllow, exceptions: start.exceptions.map((e) => ({ ...e })) };
  for (const r of rules) {
    if (r.type === "a") {
      state = { defaultAllow: r.allow, exceptions: [] };
      continue;
    }
    const rule = { type: r.type, major: r.major, minor: r.minor, access: r.access };
    const found = state.exceptions.find((e) => same(e, rule));
    if (r.allow !== state.defaultAllow) {
      if (found) found.access = accessOr(found.access, rule.access);
      else state.exceptions.push(rule);
    } else if (found) {
      found.access = accessMinus(found.access, rule.access);
      if (found.access === "") state.exceptions = state.exceptions.filter((e) => e !== found);
    }
  }
  return state;
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
// access_type is (access << 16) | type.
const DEV_TYPE = { b: 1, c: 2 } as const;
const ACC = { m: 1, r: 2, w: 4 } as const;

// The eBPF opcodes used below (include/uapi/linux/bpf_common.h, bpf.h).
const OP = {
  LDX_W: 0x61, // dst = *(u32 *)(src + off)
  AND32_K: 0x54, // dst &= imm (32-bit)
  RSH32_K: 0x74, // dst >>= imm (32-bit)
  MOV32_X: 0xbc, // dst = src (32-bit)
  MOV64_K: 0xb7, // dst = imm
  JNE_K: 0x55, // if dst != imm goto +off
  JNE_X: 0x5d, // if dst != src goto +off
  EXIT: 0x95,
} as const;

interface Insn {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (op: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ op, dst, src, off, imm });

/**
 * A BPF_PROG_TYPE_CGROUP_DEVICE program for a device state, laid out as
 * runc's devicefilter does: load type, access, major and minor into r2..r5;
 * one block per exception that returns the opposite of the default when the
 * request matches; the default at the end. Returns struct bpf_insn[] bytes.
 */
export function deviceProgram(state: DeviceState): Buffer {
  const out: Insn[] = [
    insn(OP.LDX_W, 2, 1, 0),
    insn(OP.AND32_K, 2, 0, 0, 0xffff),
    insn(OP.LDX_W, 3, 1, 0),
    insn(OP.RSH32_K, 3, 0, 0, 16),
    insn(OP.LDX_W, 4, 1, 4),
    insn(OP.LDX_W, 5, 1, 8),
  ];
  for (const e of state.exceptions) {
    // Jumps carry a placeholder offset of -1 until the block's length is known.
    const block: Insn[] = [];
    if (e.type !== "a") block.push(insn(OP.JNE_K, 2, 0, -1, DEV_TYPE[e.type]));
    const access = e.access.split("").reduce((a, c) => a | ACC[c as keyof typeof ACC], 0);
    if (access !== 7) {
      // The request must ask for nothing beyond what the rule names: (r3 & access) == r3.
      block.push(insn(OP.MOV32_X, 1, 3), insn(OP.AND32_K, 1, 0, 0, access), insn(OP.JNE_X, 1, 3, -1));
    }
    if (e.major !== "*") block.push(insn(OP.JNE_K, 4, 0, -1, e.major));
    if (e.minor !== "*") block.push(insn(OP.JNE_K, 5, 0, -1, e.minor));
    block.push(insn(OP.MOV64_K, 0, 0, 0, state.defaultAllow ? 0 : 1), insn(OP.EXIT));
    block.forEach((b, i) => {
      if (b.off === -1) b.off = block.length - i - 1;
    });
    out.push(...block);
  }
  out.push(insn(OP.MOV64_K, 0, 0, 0, state.defaultAllow ? 1 : 0), insn(OP.EXIT));

  const buf = Buffer.alloc(out.length * 8);
  out.forEach((i, n) => {
    buf.writeUInt8(i.op, n * 8);
    buf.writeUInt8((i.src << 4) | i.dst, n * 8 + 1);
    buf.writeInt16LE(i.off, n * 8 + 2);
    buf.writeInt32LE(i.imm | 0, n * 8 + 4);
  });
  return buf;
}

/** Whether a state lets `access` (r, w or m) on a device through; what the program computes. */
export function deviceAllowed(state: DeviceState, type: "b" | "c", major: number, minor: number, access: string): boolean {
  for (const e of state.exceptions) {
    if (e.type !== "a" && e.type !== type) continue;
    if (access.split("").some((c) => !e.access.includes(c))) continue;
    if (e.major !== "*" && e.major !== major) continue;
    if (e.minor !== "*" && e.minor !== minor) continue;
    return !state.defaultAllow;
  }
  return state.defaultAllow;
}
