import { X86_64 } from "./x86_64.js";
import { AARCH64 } from "./aarch64.js";
import { RECENT_COMMON, RECENT_X86_64 } from "./recent.js";

/** The architectures box compiles filters for, with their AUDIT_ARCH_* values. */
export const ARCHES = {
  x86_64: {
    audit: 0xc000003e,
    // Names a profile's includes/excludes "arches" may use for this one (Docker
    // compares with Go's GOARCH; libseccomp's names are accepted too).
    names: ["amd64", "x86_64", "SCMP_ARCH_X86_64"],
    table: { ...X86_64, ...RECENT_COMMON, ...RECENT_X86_64 },
    // x32 syscalls arrive with the x86_64 audit arch and this bit set.
    x32Bit: 0x40000000,
  },
  aarch64: {
    audit: 0xc00000b7,
    names: ["arm64", "aarch64", "SCMP_ARCH_AARCH64"],
    table: { ...AARCH64, ...RECENT_COMMON },
    x32Bit: undefined,
  },
} as const;

export type Arch = keyof typeof ARCHES;

export function isArch(s: string): s is Arch {
  return Object.hasOwn(ARCHES, s);
}

/** The machine we run on, as an Arch; undefined on one box has no table for. */
export function hostArch(): Arch | undefined {
  const m = { x64: "x86_64", arm64: "aarch64" }[process.arch as string];
  return m !== undefined && isArch(m) ? m : undefined;
}

export function syscallNumber(arch: Arch, name: string): number | undefined {
  const t: Record<string, number> = ARCHES[arch].table;
  return Object.hasOwn(t, name) ? t[name] : undefined;
}

export function syscallName(arch: Arch, nr: number): string | undefined {
  for (const [k, v] of Object.entries(ARCHES[arch].table)) if (v === nr) return k;
  return undefined;
}
