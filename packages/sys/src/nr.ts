/**
 * Syscall numbers for calls without a glibc wrapper on every supported host
 * (glibc < 2.36 lacks the new mount API). Numbers from 424 up are shared by
 * all architectures; the older ones differ.
 */
const legacy: Record<string, { pivot_root: number; bpf: number }> = {
  x64: { pivot_root: 155, bpf: 321 },
  arm64: { pivot_root: 41, bpf: 280 },
};

const arch = legacy[process.arch];

export const NR = {
  pivot_root: arch?.pivot_root ?? -1,
  bpf: arch?.bpf ?? -1,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  pidfd_open: 434,
  close_range: 436,
  openat2: 437,
  mount_setattr: 442,
} as const;
