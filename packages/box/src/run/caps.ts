/** Capability names, numbered as in <linux/capability.h>. */
export const CAPS = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
] as const;

/** Docker's default set: CapEff and CapBnd read 00000000a80425fb inside a default container. */
export const DOCKER_DEFAULT_CAPS = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
  "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

export function capBit(name: string): bigint | undefined {
  const n = name.toUpperCase().replace(/^CAP_/, "");
  const i = (CAPS as readonly string[]).indexOf(n);
  return i < 0 ? undefined : 1n << BigInt(i);
}

export function capMask(names: string[]): bigint {
  return names.reduce((m, n) => m | (capBit(n) ?? 0n), 0n);
}

export const ALL_CAPS = (1n << BigInt(CAPS.length)) - 1n;
