/**
 * Kernel flag values, one table each, so that bits are named in one place and
 * errors can print names instead of numbers (MS_BIND|MS_REC, not 20480).
 */
export type FlagTable = Readonly<Record<string, number>>;

export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  NEWTIME: 0x00000080,
} as const satisfies FlagTable;

export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const satisfies FlagTable;

export const MNT = {
  FORCE: 1,
  DETACH: 2,
  EXPIRE: 4,
  UMOUNT_NOFOLLOW: 8,
} as const satisfies FlagTable;

/** open_tree(2), move_mount(2), fsopen(2), fsconfig(2), fsmount(2), mount_setattr(2). */
export const OPEN_TREE = { CLONE: 1, CLOEXEC: 0o2000000 } as const satisfies FlagTable;
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  NO_AUTOMOUNT: 0x800,
  EMPTY_PATH: 0x1000,
  RECURSIVE: 0x8000,
} as const satisfies FlagTable;
export const MOVE_MOUNT = {
  F_SYMLINKS: 0x1,
  F_AUTOMOUNTS: 0x2,
  F_EMPTY_PATH: 0x4,
  T_SYMLINKS: 0x10,
  T_AUTOMOUNTS: 0x20,
  T_EMPTY_PATH: 0x40,
} as const satisfies FlagTable;
export const FSOPEN = { CLOEXEC: 1 } as const satisfies FlagTable;
export const FSMOUNT = { CLOEXEC: 1 } as const satisfies FlagTable;
export const FSCONFIG = {
  SET_FLAG: 0,
  SET_STRING: 1,
  SET_BINARY: 2,
  SET_PATH: 3,
  SET_PATH_EMPTY: 4,
  SET_FD: 5,
  CMD_CREATE: 6,
  CMD_RECONFIGURE: 7,
} as const satisfies FlagTable;
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  RELATIME: 0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
} as const satisfies FlagTable;

/** openat2(2) resolve flags. */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
  CACHED: 0x20,
} as const satisfies FlagTable;

export const PR = {
  SET_PDEATHSIG: 1,
  SET_NAME: 15,
  SET_NO_NEW_PRIVS: 38,
  GET_NO_NEW_PRIVS: 39,
  SET_CHILD_SUBREAPER: 36,
  CAPBSET_DROP: 24,
} as const satisfies FlagTable;

/** File type bits for mknod(2). */
export const S_IF = {
  CHR: 0o020000,
  BLK: 0o060000,
  FIFO: 0o010000,
  REG: 0o100000,
} as const satisfies FlagTable;

/** Render `bits` as `PREFIX_A|PREFIX_B` using `table`; leftover bits are shown in hex. */
export function flagNames(prefix: string, table: FlagTable, bits: number): string {
  const parts: string[] = [];
  let rest = bits;
  for (const [name, value] of Object.entries(table)) {
    if (value !== 0 && (bits & value) === value && (rest & value) !== 0) {
      parts.push(`${prefix}_${name}`);
      rest &= ~value;
    }
  }
  if (rest !== 0) parts.push(`0x${(rest >>> 0).toString(16)}`);
  return parts.length ? parts.join("|") : "0";
}
