/*
 * abi-probe: load a compiled seccomp filter into this process, then make
 * system calls through each x86 ABI and print NAME=OK or NAME=ERRNO per word.
 * The unit test src/abi.test.ts builds it with the machine's cc (no -m32: the
 * i386 calls go through `int $0x80` from this 64-bit process).
 *
 *   abi-probe FILTER|- WORD...      '-' runs the words without a filter
 *
 * Words: x64_getpid x64_mount i386_getpid i386_mount i386_unshare
 * i386_kexec_load i386_socketcall i386_socket_unix i386_socket_alg
 * x32_getpid x32_mount x32_beyond
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32_BIT 0x40000000L

/* i386 numbers (asm/unistd_32.h) and socketcall's SYS_SOCKET (linux/net.h). */
enum { I386_getpid = 20, I386_mount = 21, I386_socketcall = 102, I386_kexec_load = 283, I386_unshare = 310, I386_socket = 359 };

static long i386(long nr, long a, long b, long c, long d) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
  return r; /* -errno on failure, as the kernel returns it */
}

static long raw(long r) { /* a libc syscall() result as a raw one */
  return r < 0 ? -errno : r;
}

static void report(const char *word, long r) {
  if (r < 0 && r > -4096)
    printf("%s=%s\n", word, strerrorname_np((int)-r));
  else
    printf("%s=OK\n", word);
}

static void load(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); exit(2); }
  static struct sock_filter insns[4096];
  ssize_t n = read(fd, insns, sizeof insns);
  close(fd);
  if (n <= 0 || n % 8) { fprintf(stderr, "%s: not a BPF program\n", path); exit(2); }
  struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = insns };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("prctl PR_SET_NO_NEW_PRIVS"); exit(2); }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp SECCOMP_SET_MODE_FILTER"); exit(2); }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: abi-probe FILTER|- WORD...\n"); return 2; }
  /* socketcall takes a pointer to its arguments; int 0x80 passes 32 bits of it. */
  unsigned *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low == MAP_FAILED) { perror("mmap MAP_32BIT"); return 2; }
  long pid = getpid();
  if (strcmp(argv[1], "-")) load(argv[1]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 2; i < argc; i++) {
    const char *w = argv[i];
    long r;
    if (!strcmp(w, "x64_getpid")) r = raw(syscall(SYS_getpid)) == pid ? 0 : -EBADE;
    else if (!strcmp(w, "x64_mount")) r = raw(syscall(SYS_mount, 0, 0, 0, 0, 0));
    else if (!strcmp(w, "i386_getpid")) { r = i386(I386_getpid, 0, 0, 0, 0); if (r >= 0 && r != pid) r = -EBADE; }
    else if (!strcmp(w, "i386_mount")) r = i386(I386_mount, 0, 0, 0, 0);
    else if (!strcmp(w, "i386_unshare")) r = i386(I386_unshare, CLONE_NEWUTS, 0, 0, 0);
    /* flags name no architecture the kernel knows, so an unfiltered call fails with EINVAL */
    else if (!strcmp(w, "i386_kexec_load")) r = i386(I386_kexec_load, 0, 0, 0, 0xffff0000L);
    else if (!strcmp(w, "i386_socketcall")) {
      low[0] = AF_UNIX, low[1] = SOCK_STREAM, low[2] = 0;
      r = i386(I386_socketcall, 1 /* SYS_SOCKET */, (long)low, 0, 0);
    }
    else if (!strcmp(w, "i386_socket_unix")) r = i386(I386_socket, AF_UNIX, SOCK_STREAM, 0, 0);
    else if (!strcmp(w, "i386_socket_alg")) r = i386(I386_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0, 0);
    else if (!strcmp(w, "x32_getpid")) { r = raw(syscall(X32_BIT | SYS_getpid)); if (r >= 0 && r != pid) r = -EBADE; }
    else if (!strcmp(w, "x32_mount")) r = raw(syscall(X32_BIT | SYS_mount, 0, 0, 0, 0, 0));
    else if (!strcmp(w, "x32_beyond")) r = raw(syscall(X32_BIT | 1000, 0, 0, 0, 0, 0));
    else { fprintf(stderr, "abi-probe: unknown word %s\n", w); return 2; }
    if (r >= 0 && strstr(w, "socket")) close((int)r);
    report(w, r);
  }
  return 0;
}
