/**
 * Every libc prototype box uses, declared once. Nothing outside this package
 * imports koffi. Calls here are synchronous on purpose: namespace, mount and
 * credential calls act on the calling thread, and only the main thread is the
 * one box controls (see STYLE.md, "Respect threads").
 */
import { createRequire } from "node:module";
import type * as Koffi from "koffi";

const require = createRequire(import.meta.url);

/**
 * koffi's index.js pulls in its download and unpack helpers (zlib, https,
 * crypto) before loading the native module: ~8 ms on every start of every
 * tool. Load the prebuilt module for this platform directly, and fall back
 * to the package's own loader where the layout differs.
 */
function loadKoffi(): typeof Koffi {
  try {
    const native = require(`koffi/build/koffi/${process.platform}_${process.arch}/koffi.node`) as typeof Koffi & { version?: string };
    const pkg = require("koffi/package.json") as { version: string };
    if (native.version === pkg.version) return native;
  } catch {
    // fall through to the regular entry point
  }
  return require("koffi") as typeof Koffi;
}

const koffi = loadKoffi();
const lib = koffi.load("libc.so.6");

export const libc = {
  unshare: lib.func("int unshare(int flags)"),
  setns: lib.func("int setns(int fd, int nstype)"),
  mount: lib.func(
    "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)",
  ),
  umount2: lib.func("int umount2(const char *target, int flags)"),
  sethostname: lib.func("int sethostname(const char *name, size_t len)"),
  mknod: lib.func("int mknod(const char *path, uint32_t mode, uint64_t dev)"),
  chroot: lib.func("int chroot(const char *path)"),
  chdir: lib.func("int chdir(const char *path)"),
  fchdir: lib.func("int fchdir(int fd)"),
  prctl: lib.func("int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)"),
  getpid: lib.func("int getpid(void)"),
  gettid: lib.func("int gettid(void)"),
  posix_openpt: lib.func("int posix_openpt(int flags)"),
  grantpt: lib.func("int grantpt(int fd)"),
  unlockpt: lib.func("int unlockpt(int fd)"),
  ptsname_r: lib.func("int ptsname_r(int fd, void *buf, size_t len)"),
  ioctl: lib.func("int ioctl(int fd, unsigned long request, ...)"),
  strerror: lib.func("const char *strerror(int errnum)"),
  syscall: lib.func("long syscall(long nr, ...)"),
  kill: lib.func("int kill(int pid, int sig)"),
  flock: lib.func("int flock(int fd, int op)"),
  socket: lib.func("int socket(int domain, int type, int protocol)"),
  send: lib.func("long send(int fd, const void *buf, size_t len, int flags)"),
  recv: lib.func("long recv(int fd, void *buf, size_t len, int flags)"),
  close: lib.func("int close(int fd)"),
  openat: lib.func("int openat(int dirfd, const char *path, int flags, uint32_t mode)"),
  mkdirat: lib.func("int mkdirat(int dirfd, const char *path, uint32_t mode)"),
  symlinkat: lib.func("int symlinkat(const char *target, int dirfd, const char *path)"),
  unlinkat: lib.func("int unlinkat(int dirfd, const char *path, int flags)"),
  fchownat: lib.func("int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)"),
  readlinkat: lib.func("long readlinkat(int dirfd, const char *path, void *buf, size_t size)"),
  lgetxattr: lib.func("long lgetxattr(const char *path, const char *name, void *value, size_t size)"),
  lsetxattr: lib.func("int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)"),
  llistxattr: lib.func("long llistxattr(const char *path, void *list, size_t size)"),
} as const;

/*
 * bpf(2) takes a union bpf_attr whose members hold user pointers. koffi
 * passes a Buffer field of a struct argument in place, so the verifier log
 * and the program id list are written straight into the caller's Buffers.
 * Layouts from include/uapi/linux/bpf.h; the tail pads the struct to 128
 * bytes, all zero, which the kernel requires of the bytes it does not know.
 */
const bpfProgLoadAttr = koffi.struct("bpf_attr_prog_load", {
  prog_type: "uint32",
  insn_cnt: "uint32",
  insns: "const void *",
  license: "const char *",
  log_level: "uint32",
  log_size: "uint32",
  log_buf: "void *",
  kern_version: "uint32",
  prog_flags: "uint32",
  prog_name: koffi.array("uint8", 16, "Array"),
  prog_ifindex: "uint32",
  expected_attach_type: "uint32",
  pad: koffi.array("uint8", 56, "Array"),
});
const bpfProgQueryAttr = koffi.struct("bpf_attr_prog_query", {
  target_fd: "uint32",
  attach_type: "uint32",
  query_flags: "uint32",
  attach_flags: "uint32",
  prog_ids: "void *",
  prog_cnt: "uint32",
  pad: koffi.array("uint8", 100, "Array"),
});

/** koffi type specs for the variadic syscall(2) arguments that are structs. */
export const types = {
  bpfProgLoadAttr: koffi.pointer(bpfProgLoadAttr),
  bpfProgQueryAttr: koffi.pointer(bpfProgQueryAttr),
  bpfAttrSize: 128,
} as const;

export function errno(): number {
  return koffi.errno();
}
