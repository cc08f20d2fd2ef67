import { X86_64 } from "./x86_64.js";
import { I386 } from "./i386.js";
import { X32 } from "./x32.js";
import { AARCH64 } from "./aarch64.js";
import { IPC_CALLS, SOCKETCALL_CALLS } from "./multiplexed.js";
import { RECENT_COMMON, RECENT_I386, RECENT_X32, RECENT_X86_64 } from "./recent.js";

/**
 * A system call ABI a filter may meet, with the numbers seccomp_data.nr shows
 * for it. One machine can have several: an x86_64 process reaches the i386
 * table through `int 0x80` (AUDIT_ARCH_I386) and the x32 table with
 * __X32_SYSCALL_BIT set (AUDIT_ARCH_X86_64, like the native one).
 */
export interface Abi {
  /** libseccomp's name, as a profile's `architectures` and `archMap` write it. */
  scmp: string;
  audit: number;
  /** The first syscall number of this ABI (x32: __X32_SYSCALL_BIT). */
  nrBase: number;
  /** Numbers from here on are not this ABI's (x86_64: x32 numbers). */
  nrLimit?: number;
  table: Readonly<Record<string, number>>;
  /**
   * Arguments are 32 bits: rules compare the low word only, as libseccomp
   * does for its 32-bit architectures (x86 and x32 alike).
   */
  args32: boolean;
  /** socketcall(2) and ipc(2), when the ABI multiplexes socket and SysV IPC calls. */
  socketcall?: number;
  ipc?: number;
}

const X32_SYSCALL_BIT = 0x40000000;
const withBit = (t: Record<string, number>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, (X32_SYSCALL_BIT | v) >>> 0]));

export const ABIS = {
  x86_64: {
    scmp: "SCMP_ARCH_X86_64",
    audit: 0xc000003e,
    nrBase: 0,
    nrLimit: X32_SYSCALL_BIT,
    table: { ...X86_64, ...RECENT_COMMON, ...RECENT_X86_64 },
    args32: false,
  },
  x32: {
    scmp: "SCMP_ARCH_X32",
    // The kernel reports x32 calls with the x86_64 audit arch; the number's bit tells them apart.
    audit: 0xc000003e,
    nrBase: X32_SYSCALL_BIT,
    table: withBit({ ...X32, ...RECENT_X32 }),
    args32: true,
  },
  i386: {
    scmp: "SCMP_ARCH_X86",
    audit: 0x40000003,
    nrBase: 0,
    table: { ...I386, ...RECENT_I386 },
    args32: true,
    socketcall: I386.socketcall!,
    ipc: I386.ipc!,
  },
  aarch64: {
    scmp: "SCMP_ARCH_AARCH64",
    audit: 0xc00000b7,
    nrBase: 0,
    table: { ...AARCH64, ...RECENT_COMMON },
    args32: false,
  },
} as const satisfies Record<string, Abi>;

export type AbiName = keyof typeof ABIS;

/** The machines box compiles filters for: their own ABI and the other ABIs their kernels run. */
export const ARCHES = {
  x86_64: {
    ...ABIS.x86_64,
    abi: "x86_64",
    // Names a profile's includes/excludes "arches" may use for this one (Docker
    // compares with Go's GOARCH; libseccomp's names are accepted too).
    names: ["amd64", "x86_64", "SCMP_ARCH_X86_64"],
    compat: ["i386", "x32"],
  },
  aarch64: {
    ...ABIS.aarch64,
    abi: "aarch64",
    names: ["arm64", "aarch64", "SCMP_ARCH_AARCH64"],
    // AArch32 tasks (SCMP_ARCH_ARM) would need arm's table, which box does not carry.
    compat: [],
  },
} as const satisfies Record<string, { abi: AbiName; names: readonly string[]; compat: readonly AbiName[] }>;

export type Arch = keyof typeof ARCHES;

export function isArch(s: string): s is Arch {
  return Object.hasOwn(ARCHES, s);
}

export function isAbi(s: string): s is AbiName {
  return Object.hasOwn(ABIS, s);
}

/** The machine we run on, as an Arch; undefined on one box has no table for. */
export function hostArch(): Arch | undefined {
  const m = { x64: "x86_64", arm64: "aarch64" }[process.arch as string];
  return m !== undefined && isArch(m) ? m : undefined;
}

/** The number seccomp_data.nr carries for NAME on this ABI (x32 numbers include the x32 bit). */
export function syscallNumber(abi: AbiName, name: string): number | undefined {
  const t: Readonly<Record<string, number>> = ABIS[abi].table;
  return Object.hasOwn(t, name) ? t[name] : undefined;
}

export function syscallName(abi: AbiName, nr: number): string | undefined {
  for (const [k, v] of Object.entries(ABIS[abi].table)) if (v === nr) return k;
  return undefined;
}

/**
 * On an ABI with socketcall(2) and ipc(2), the multiplexer and call number
 * that also reach NAME (socket -> socketcall with call 1), as libseccomp maps them.
 */
export function multiplexed(abi: AbiName, name: string): { nr: number; call: number } | undefined {
  const a: Abi = ABIS[abi];
  if (a.socketcall !== undefined && Object.hasOwn(SOCKETCALL_CALLS, name)) return { nr: a.socketcall, call: SOCKETCALL_CALLS[name]! };
  if (a.ipc !== undefined && Object.hasOwn(IPC_CALLS, name)) return { nr: a.ipc, call: IPC_CALLS[name]! };
  return undefined;
}

/** libseccomp's architecture names (runc accepts these in `architectures` and `archMap`). */
export const SCMP_ARCHES = [
  "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_LOONGARCH64",
] as const;
