/*
 * probe: the small static binary the security tests run inside a container
 * (crun's tests/init.c idea). Each operand names one attempt; the probe makes
 * the raw system call (no libc fallback in between) and prints
 * "NAME=OK" or "NAME=ERRNO" per line, then exits 0.
 *
 *   probe keyctl unshare mount clone3 ...   one line each
 *   probe exe PATH                          open PATH read-only, O_PATH, then write through the O_PATH handle
 *   probe fds                               list fds 0..1023 that are open, with their targets
 *   probe i386                              getpid through int 0x80 (the i386 ABI)
 *   probe x32                               getpid with the x32 bit
 *   probe ptrace PID                        PTRACE_ATTACH to PID
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
  if (r < 0)
    printf("%s=%s\n", name, strerrorname_np(errno));
  else
    printf("%s=OK\n", name);
  fflush(stdout);
}

static long try_clone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  if (pid > 0)
    waitpid(pid, NULL, 0);
  return pid;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    errno = 0;
    if (!strcmp(a, "keyctl"))
      report(a, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    else if (!strcmp(a, "unshare"))
      report(a, syscall(SYS_unshare, CLONE_NEWNS));
    else if (!strcmp(a, "mount"))
      report(a, syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
    else if (!strcmp(a, "umount"))
      report(a, syscall(SYS_umount2, "/proc", MNT_DETACH));
    else if (!strcmp(a, "swapon"))
      report(a, syscall(SYS_swapon, "/nonexistent", 0));
    else if (!strcmp(a, "reboot")) /* a wrong magic: never reboots, EINVAL once allowed */
      report(a, syscall(SYS_reboot, 0, 0, 0, NULL));
    else if (!strcmp(a, "init_module"))
      report(a, syscall(SYS_init_module, NULL, 0, ""));
    else if (!strcmp(a, "finit_module"))
      report(a, syscall(SYS_finit_module, -1, "", 0));
    else if (!strcmp(a, "delete_module"))
      report(a, syscall(SYS_delete_module, "no_such_module", O_NONBLOCK));
    else if (!strcmp(a, "clone3"))
      report(a, syscall(SYS_clone3, NULL, 0));
    else if (!strcmp(a, "clone_newns"))
      report(a, try_clone(CLONE_NEWNS));
    else if (!strcmp(a, "clone_newuser"))
      report(a, try_clone(CLONE_NEWUSER));
    else if (!strcmp(a, "fork"))
      report(a, try_clone(0));
    else if (!strcmp(a, "personality_bsd")) /* PER_BSD: not one Docker allows */
      report(a, syscall(SYS_personality, 0x0006));
    else if (!strcmp(a, "personality_query"))
      report(a, syscall(SYS_personality, 0xffffffffUL));
    else if (!strcmp(a, "socket_vsock"))
      report(a, syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
    else if (!strcmp(a, "socket_unix"))
      report(a, syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    else if (!strcmp(a, "socket_raw"))
      report(a, syscall(SYS_socket, AF_INET, SOCK_RAW, 1 /* ICMP */));
    else if (!strcmp(a, "mkdir"))
      report(a, syscall(SYS_mkdir, "/tmp/probe-dir", 0755));
    else if (!strcmp(a, "mknod_disk"))
      report(a, syscall(SYS_mknod, "/tmp/probe-sda", S_IFBLK | 0600, makedev(8, 0)));
    else if (!strcmp(a, "open_disk")) {
      long fd = syscall(SYS_open, "/tmp/probe-sda", O_RDONLY);
      report(a, fd);
    } else if (!strcmp(a, "open_tree_attr")) /* 6.15, newer than the profile: ENOSYS */
      report(a, syscall(467, -1, "", 0, NULL, 0));
    else if (!strcmp(a, "chroot"))
      report(a, syscall(SYS_chroot, "/"));
    else if (!strcmp(a, "getpid"))
      report(a, syscall(SYS_getpid));
    else if (!strcmp(a, "i386")) {
      long r;
      __asm__ volatile("int $0x80" : "=a"(r) : "a"(20 /* i386 getpid */) : "memory");
      if (r < 0) { errno = -r; r = -1; }
      report(a, r);
    } else if (!strcmp(a, "x32"))
      report(a, syscall(0x40000000 | SYS_getpid));
    else if (!strcmp(a, "ptrace") && i + 1 < argc) {
      long pid = atol(argv[++i]);
      report(a, syscall(SYS_ptrace, PTRACE_ATTACH, pid, 0, 0));
    } else if (!strcmp(a, "exe") && i + 1 < argc) {
      const char *p = argv[++i];
      report("exe_read", open(p, O_RDONLY));
      int fd = open(p, O_PATH);
      report("exe_path", fd);
      if (fd >= 0) {
        char via[64];
        snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
        report("exe_write", open(via, O_WRONLY));
      }
    } else if (!strcmp(a, "fds")) {
      for (int fd = 0; fd < 1024; fd++) {
        char p[64], t[4096];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, t, sizeof t - 1);
        if (n >= 0) {
          t[n] = 0;
          printf("fd %d %s\n", fd, t);
        }
      }
    } else {
      fprintf(stderr, "probe: unknown attempt %s\n", a);
      return 2;
    }
  }
  return 0;
}
