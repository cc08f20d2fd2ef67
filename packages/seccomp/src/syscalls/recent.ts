/**
 * Syscalls newer than the Debian 12 UAPI headers (6.1) that
 * scripts/gen-syscalls.sh reads. Since 5.1 (424, pidfd_send_signal) every
 * architecture shares one number per new syscall, so one table serves both.
 */
export const RECENT_COMMON: Record<string, number> = {
  cachestat: 451, // 6.5
  fchmodat2: 452, // 6.6
  map_shadow_stack: 453, // 6.6
  futex_wake: 454, // 6.7
  futex_wait: 455,
  futex_requeue: 456,
  statmount: 457, // 6.8
  listmount: 458,
  lsm_get_self_attr: 459,
  lsm_set_self_attr: 460,
  lsm_list_modules: 461,
  mseal: 462, // 6.10
  setxattrat: 463, // 6.13
  getxattrat: 464,
  listxattrat: 465,
  removexattrat: 466,
  open_tree_attr: 467, // 6.15
  file_getattr: 468, // 6.17
  file_setattr: 469,
};

/** x86_64 only: the uprobe trampolines' syscalls (6.11, 6.16). */
export const RECENT_X86_64: Record<string, number> = {
  uretprobe: 335,
  uprobe: 336,
};

/**
 * i386 and x32 share the common numbers above, except map_shadow_stack: it is
 * "64" (x86_64 only) in syscall_64.tbl and absent from syscall_32.tbl.
 */
const { map_shadow_stack: _x86_64Only, ...RECENT_COMPAT } = RECENT_COMMON;
export const RECENT_I386: Record<string, number> = RECENT_COMPAT;
/** x32 also has the uprobe trampolines ("common" in syscall_64.tbl). */
export const RECENT_X32: Record<string, number> = { ...RECENT_COMPAT, ...RECENT_X86_64 };
