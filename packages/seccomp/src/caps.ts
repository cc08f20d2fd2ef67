/** Capability names by bit, as in <linux/capability.h>; a profile's includes/excludes name them. */
const NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
];

export const ALL_CAPS = (1n << BigInt(NAMES.length)) - 1n;

/** A capability mask (CapBnd's bits) as the CAP_* names Docker profiles use. */
export function capNames(mask: bigint): Set<string> {
  const s = new Set<string>();
  NAMES.forEach((n, i) => {
    if (mask & (1n << BigInt(i))) s.add(`CAP_${n}`);
  });
  return s;
}

export function normaliseCap(name: string): string {
  const n = name.toUpperCase();
  return n.startsWith("CAP_") ? n : `CAP_${n}`;
}
