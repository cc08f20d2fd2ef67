/*
 * ns-init: the single-threaded second stage of ns-exec.
 *
 * Node cannot do these steps itself: it is multithreaded from its first
 * instruction, so the kernel refuses it CLONE_NEWUSER (and setns into a user
 * namespace), a new PID namespace only applies to its children, and /proc of a
 * new PID namespace is best mounted from inside it. ns-exec (TypeScript) makes
 * the namespaces and prepares every mount it can on its main thread, then
 * spawns this program as the first child, i.e. PID 1 of the new PID namespace.
 * ns-init finishes the job and execs the command: mount /proc, mask paths,
 * pivot_root, identity, capabilities, rlimits, no_new_privs, fds, exec.
 * Policy (which paths, which caps, which ids) is decided in TypeScript and
 * arrives on argv; this file only carries it out.
 *
 * Protocol with the parent:
 *   fd 3 (-s): one byte from the parent means "go" (cgroup joined, maps written).
 *   fd 4 (-e): status, close-on-exec. A line "U" asks the parent to write
 *              uid_map/gid_map; a line "E CODE message" reports a failure
 *              before exec (CODE is the exit status ns-exec should use:
 *              127 not found, 126 cannot execute, 1 otherwise). EOF with no
 *              "E" line means the command was executed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LIST 64

static int status_fd = -1;

static const char *errname(int e) {
  switch (e) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case ESRCH: return "ESRCH";
  case EINTR: return "EINTR";
  case EIO: return "EIO";
  case E2BIG: return "E2BIG";
  case ENOEXEC: return "ENOEXEC";
  case EBADF: return "EBADF";
  case ECHILD: return "ECHILD";
  case EAGAIN: return "EAGAIN";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EFAULT: return "EFAULT";
  case EBUSY: return "EBUSY";
  case EEXIST: return "EEXIST";
  case EXDEV: return "EXDEV";
  case ENODEV: return "ENODEV";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case EINVAL: return "EINVAL";
  case EMFILE: return "EMFILE";
  case ETXTBSY: return "ETXTBSY";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case ELOOP: return "ELOOP";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ENOSYS: return "ENOSYS";
  default: return "EUNKNOWN";
  }
}

/* Report a failure to the parent (or stderr when run by hand) and exit. */
static void die(int code, int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char line[1200];
  int n;
  if (err) {
    char desc[128];
    snprintf(desc, sizeof desc, "%s", strerror(err));
    desc[0] = (char)tolower((unsigned char)desc[0]);
    n = snprintf(line, sizeof line, "E %d %s: %s (%s)\n", code, msg, errname(err), desc);
  }
  else
    n = snprintf(line, sizeof line, "E %d %s\n", code, msg);
  if (n > (int)sizeof line - 1)
    n = sizeof line - 1;
  if (status_fd < 0 || write(status_fd, line, n) < 0)
    (void)!write(2, line + 2, n - 2);
  _exit(code);
}

struct opts {
  const char *root;
  const char *cwd;
  const char *join_mnt;
  const char *join_user;
  const char *join_pid;
  int sync;
  int userns;
  int init;
  int tty;
  int nnp;
  int cgroupns;
  int seccomp_fd;
  struct sock_fprog filter;
  int pdeathsig;
  int background;
  int master_fd;
  int readonly_root_after;
  long uid, gid;
  gid_t groups[MAX_LIST];
  int ngroups;
  int set_groups;
  int has_caps;
  unsigned long long caps;
  const char *mask[MAX_LIST];
  int nmask;
  const char *ro[MAX_LIST];
  int nro;
  const char *rlim[MAX_LIST];
  int nrlim;
  char **argv;
};

/* Set once PR_SET_PDEATHSIG is armed (-k). */
static int pdeath_armed;

static void wait_go(void) {
  char c;
  ssize_t n;
  do n = read(3, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    die(1, n < 0 ? errno : 0, "read sync fd 3%s", n == 0 ? ": parent went away" : "");
  /* ns-exec keeps its end open for as long as it runs. A parent killed
   * after it said "go" but before our PR_SET_PDEATHSIG took effect sent no
   * signal (and getppid() is 0 across the PID namespace): a hung-up pipe
   * says it is gone, and the command must not start without it. */
  if (pdeath_armed) {
    struct pollfd p = {.fd = 3, .events = 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLHUP))
      die(1, 0, "parent went away");
  }
  close(3);
}

static void mount_proc(const char *root) {
  char path[4096], fdpath[64];
  snprintf(path, sizeof path, "%s/proc", root);
  if (mkdir(path, 0555) < 0 && errno != EEXIST)
    die(1, errno, "mkdir %s", path);
  /* The image's /proc must be a real directory: a symlink would send procfs
   * elsewhere and leave the masked paths unmasked (CVE-2019-16884,
   * CVE-2023-27561). O_NOFOLLOW|O_DIRECTORY refuses one, and mounting on the
   * fd leaves no window to swap it in. */
  int fd = open(path, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    die(1, errno, "open %s: /proc in the image must be a directory, not a symlink", path);
  snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  if (mount("proc", fdpath, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die(1, errno, "mount src=proc dst=%s type=proc", path);
  close(fd);
}

static void do_pivot(const char *root) {
  if (chdir(root) < 0)
    die(1, errno, "chdir %s", root);
  /* pivot_root(".", ".") stacks the old root on top of the new one, so no
   * directory inside the image is needed for it (runc does the same). */
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    die(1, errno, "pivot_root %s", root);
  /* Keep the unmount below from propagating to the host. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    die(1, errno, "mount dst=/ flags=MS_SLAVE|MS_REC");
  if (umount2(".", MNT_DETACH) < 0)
    die(1, errno, "umount2 old root flags=MNT_DETACH");
  if (chdir("/") < 0)
    die(1, errno, "chdir /");
}

/* Docker's masked paths: a dir gets an empty read-only tmpfs, a file /dev/null. */
static void mask_path(const char *p) {
  struct stat st;
  if (lstat(p, &st) < 0) {
    if (errno == ENOENT)
      return;
    die(1, errno, "lstat %s", p);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0") < 0)
      die(1, errno, "mount src=tmpfs dst=%s flags=MS_RDONLY", p);
  } else {
    /* Verify that /dev/null is the real null device before binding it
     * anywhere (CVE-2025-31133: an image could make it a symlink). */
    struct stat nst;
    if (lstat("/dev/null", &nst) < 0 || !S_ISCHR(nst.st_mode) || nst.st_rdev != makedev(1, 3))
      die(1, 0, "/dev/null is not the null device; refusing to mask %s", p);
    if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0)
      die(1, errno, "mount src=/dev/null dst=%s flags=MS_BIND", p);
  }
}

static void readonly_path(const char *p) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT)
      return;
    die(1, errno, "mount src=%s dst=%s flags=MS_BIND|MS_REC", p, p);
  }
  if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die(1, errno, "mount dst=%s flags=MS_BIND|MS_REMOUNT|MS_RDONLY", p);
}

static const struct { const char *name; int res; } rlimits[] = {
  {"core", RLIMIT_CORE}, {"cpu", RLIMIT_CPU}, {"data", RLIMIT_DATA}, {"fsize", RLIMIT_FSIZE},
  {"locks", RLIMIT_LOCKS}, {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE},
  {"nice", RLIMIT_NICE}, {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"rss", RLIMIT_RSS},
  {"rtprio", RLIMIT_RTPRIO}, {"rttime", RLIMIT_RTTIME}, {"sigpending", RLIMIT_SIGPENDING},
  {"stack", RLIMIT_STACK}, {"as", RLIMIT_AS},
};

/* NAME=SOFT:HARD, already validated by ns-exec; "-1" means unlimited. */
static void set_rlimit(const char *spec) {
  char name[32];
  long long soft, hard;
  if (sscanf(spec, "%31[a-z]=%lld:%lld", name, &soft, &hard) != 3)
    die(1, 0, "bad rlimit %s", spec);
  for (size_t i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++) {
    if (strcmp(rlimits[i].name, name) == 0) {
      struct rlimit rl = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
      if (setrlimit(rlimits[i].res, &rl) < 0)
        die(1, errno, "setrlimit %s", spec);
      return;
    }
  }
  die(1, 0, "unknown rlimit %s", name);
}

static int last_cap(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char buf[16] = {0};
  if (fd >= 0) {
    (void)!read(fd, buf, sizeof buf - 1);
    close(fd);
  }
  int n = atoi(buf);
  return n > 0 ? n : CAP_LAST_CAP;
}

static void drop_bounding(unsigned long long keep, int last) {
  for (int c = 0; c <= last; c++)
    if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      die(1, errno, "prctl PR_CAPBSET_DROP cap=%d", c);
}

static void set_caps(unsigned long long caps) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = (unsigned)(caps & 0xffffffffULL);
  data[1].effective = data[1].permitted = (unsigned)(caps >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0)
    die(1, errno, "capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    die(1, errno, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
}

static void set_identity(struct opts *o) {
  if (o->set_groups && setgroups(o->ngroups, o->groups) < 0)
    die(1, errno, "setgroups");
  if (o->gid >= 0 && setresgid(o->gid, o->gid, o->gid) < 0)
    die(1, errno, "setresgid %ld", o->gid);
  if (o->uid >= 0 && setresuid(o->uid, o->uid, o->uid) < 0)
    die(1, errno, "setresuid %ld", o->uid);
}

/* Mark every fd above 2 close-on-exec: nothing of the host leaks into the
 * container (CVE-2024-21626), yet the status fd stays usable until exec. */
static void cloexec_fds(void) {
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  for (int fd = 3; fd < 1024; fd++)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void exec_cmd(struct opts *o) {
  execvp(o->argv[0], o->argv);
  int e = errno;
  if (e == ENOENT || e == ENOTDIR)
    die(127, e, "exec %s", o->argv[0]);
  die(126, e, "exec %s", o->argv[0]);
}

/* --init: PID 1 that forwards signals to the command and reaps orphans. */
static int child_pid;
static void forward(int sig) {
  if (child_pid > 0)
    kill(child_pid, sig);
}

static void run_init(struct opts *o) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  child_pid = fork();
  if (child_pid < 0)
    die(1, errno, "fork");
  if (child_pid == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (o->tty) {
      /* The command, not the init, owns the terminal and gets Ctrl-C. */
      setsid();
      ioctl(0, TIOCSCTTY, 0);
    }
    exec_cmd(o);
  }
  close(status_fd);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
      sigaction(s, &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  for (;;) {
    int st;
    pid_t p = wait(&st);
    if (p < 0) {
      if (errno == EINTR)
        continue;
      _exit(1);
    }
    if (p == child_pid) {
      if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
      _exit(128 + WTERMSIG(st));
    }
  }
}

/* Root of the user namespace ns-init made (-Y): the uid and gid 0 the maps
 * name, and no supplementary group of the host's. */
static void become_root(void) {
  if (setgroups(0, NULL) < 0)
    die(1, errno, "setgroups 0");
  if (setresgid(0, 0, 0) < 0)
    die(1, errno, "setresgid 0 (is 0 mapped?)");
  if (setresuid(0, 0, 0) < 0)
    die(1, errno, "setresuid 0 (is 0 mapped?)");
}

/* User namespace hop: ask the parent for maps, then make the namespaces that
 * must be owned by the new user namespace, and fork into the PID namespace. */
static void enter_userns(void) {
  if (unshare(CLONE_NEWUSER) < 0)
    die(1, errno, "unshare CLONE_NEWUSER");
  if (write(status_fd, "U\n", 2) != 2)
    die(1, errno, "write status fd");
  wait_go();
  /* Still the host's uid 0 (unmapped here, but with every capability in
   * the new namespace) until the root is in place: the container's
   * directories under BOX_ROOT are the host root's, 0700/0710, and the
   * namespace's root could not reach them. become_root() follows the pivot. */
  int flags = CLONE_NEWNS | CLONE_NEWPID;
  if (unshare(flags) < 0)
    die(1, errno, "unshare CLONE_NEWNS|CLONE_NEWPID");
  /* Held open by the relay (the parent) for as long as it lives. */
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0)
    die(1, errno, "pipe2");
  pid_t pid = fork();
  if (pid < 0)
    die(1, errno, "fork");
  if (pid > 0) {
    close(alive[0]);
    close(status_fd);
    /* On the host, every process of the container is the remapped root's. */
    become_root();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    child_pid = pid;
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
        sigaction(s, &sa, NULL);
    int st;
    while (waitpid(pid, &st, 0) < 0)
      if (errno != EINTR)
        _exit(1);
    if (WIFEXITED(st))
      _exit(WEXITSTATUS(st));
    _exit(128 + WTERMSIG(st));
  }
  /* The parent is only a relay: a SIGKILL meant for the container (box
   * kill, a stop's timeout) reaches it, and must take PID 1 down too. */
  close(alive[1]);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* getppid() is 0 across a PID namespace: the pipe says whether the relay
   * died before PDEATHSIG was armed. */
  struct pollfd p = {.fd = alive[0], .events = POLLIN};
  if (poll(&p, 1, 0) != 0)
    _exit(1);
  close(alive[0]);
}

/* -F FD: a seccomp filter (struct sock_filter[]) compiled by ns-exec, read
 * to EOF at start, while nothing else is going on. */
static void read_filter(struct opts *o) {
  size_t cap = 4096 * sizeof(struct sock_filter), len = 0;
  char *buf = malloc(cap + 1);
  if (!buf)
    die(1, ENOMEM, "read seccomp filter");
  for (;;) {
    ssize_t n = read(o->seccomp_fd, buf + len, cap + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die(1, errno, "read seccomp filter fd %d", o->seccomp_fd);
    if (n == 0)
      break;
    len += n;
    if (len > cap)
      die(1, 0, "seccomp filter: more than 4096 instructions");
  }
  close(o->seccomp_fd);
  if (len == 0 || len % sizeof(struct sock_filter))
    die(1, 0, "seccomp filter: %zu bytes is not a whole program", len);
  o->filter.len = len / sizeof(struct sock_filter);
  o->filter.filter = (struct sock_filter *)buf;
}

static void apply_filter(struct opts *o) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &o->filter) < 0)
    die(1, errno, "seccomp SECCOMP_SET_MODE_FILTER (%u instructions)", o->filter.len);
}

static void usage(void) {
  fputs("usage: ns-init [-s] [-e FD] [-Y] [-U USERNS] [-M MNTNS] [-P PIDNS] [-r ROOT] [-w CWD] [-u UID] [-g GID] [-G GID,...] [-C CAPS]\n"
        "               [-m MASK]... [-o RO]... [-R NAME=SOFT:HARD]... [-n] [-F FD] [-i] [-t] [-c] [-k] [-D [-P PIDNS] [-T FD]] -- CMD...\n"
        "ns-init is the second stage of ns-exec; run ns-exec instead.\n",
        stderr);
  _exit(2);
}

static void parse(int argc, char **argv, struct opts *o) {
  int c;
  memset(o, 0, sizeof *o);
  o->uid = o->gid = -1;
  while ((c = getopt(argc, argv, "+se:YU:M:P:r:w:u:g:G:C:m:o:R:nF:itckDT:")) != -1) {
    switch (c) {
    case 'M': o->join_mnt = optarg; break;
    case 'U': o->join_user = optarg; break;
    case 'P': o->join_pid = optarg; break;
    case 's': o->sync = 1; break;
    case 'e': status_fd = atoi(optarg); break;
    case 'Y': o->userns = 1; break;
    case 'r': o->root = optarg; break;
    case 'w': o->cwd = optarg; break;
    case 'u': o->uid = atol(optarg); break;
    case 'g': o->gid = atol(optarg); break;
    case 'G': {
      o->set_groups = 1;
      for (char *s = optarg; *s && o->ngroups < MAX_LIST;) {
        o->groups[o->ngroups++] = (gid_t)strtoul(s, &s, 10);
        if (*s == ',') s++;
      }
      break;
    }
    case 'C': o->has_caps = 1; o->caps = strtoull(optarg, NULL, 16); break;
    case 'm': if (o->nmask < MAX_LIST) o->mask[o->nmask++] = optarg; break;
    case 'o': if (o->nro < MAX_LIST) o->ro[o->nro++] = optarg; break;
    case 'R': if (o->nrlim < MAX_LIST) o->rlim[o->nrlim++] = optarg; break;
    case 'n': o->nnp = 1; break;
    case 'F': o->seccomp_fd = atoi(optarg); break;
    case 'i': o->init = 1; break;
    case 't': o->tty = 1; break;
    case 'c': o->cgroupns = 1; break;
    case 'k': o->pdeathsig = 1; break;
    case 'D': o->background = 1; break;
    case 'T': o->master_fd = atoi(optarg); break;
    default: usage();
    }
  }
  /* -D reaps the command from outside its PID namespace: ns-init joins it (-P). */
  if (optind >= argc || (o->background && !o->join_pid) || (o->master_fd && !o->background))
    usage();
  o->argv = argv + optind;
}

int main(int argc, char **argv) {
  struct opts o;
  parse(argc, argv, &o);
  /* Not dumpable until exec: a container process that can see us (joining
   * an existing container, or --init staying PID 1) cannot open
   * /proc/PID/exe, this host binary, to overwrite it later (CVE-2019-5736),
   * nor ptrace us. execve resets it for the command. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (status_fd >= 0)
    fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  if (o.seccomp_fd > 0)
    read_filter(&o);
  /* A foreground container dies with ns-exec rather than leak. */
  if (o.pdeathsig)
    pdeath_armed = prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0;
  if (o.userns)
    enter_userns();
  else if (o.sync)
    wait_go();
  /* -U: join a container's user namespace (box exec into a remapped
   * container). Only a single-threaded process may. ns-exec has joined the
   * other namespaces but the mount one, which belongs to this user namespace
   * and is joined next, with the capabilities setns gives us in it. Both
   * files are opened first, as the host's root: the relay whose ns files
   * they are is not dumpable, and the namespace's root may not open them. */
  int user_fd = -1, mnt_fd = -1;
  if (o.join_user && (user_fd = open(o.join_user, O_RDONLY | O_CLOEXEC)) < 0)
    die(1, errno, "open %s", o.join_user);
  /* Joining a mount namespace needs an fs_struct of our own (one thread),
   * and the parent could not exec this file from inside the joined root.
   * setns(CLONE_NEWNS) also moves our root and cwd to the namespace's root. */
  if (o.join_mnt && (mnt_fd = open(o.join_mnt, O_RDONLY | O_CLOEXEC)) < 0)
    die(1, errno, "open %s", o.join_mnt);
  /* -P (with -D): the PID namespace is joined here rather than by ns-exec,
   * so that we stay outside it and our child, the command, is inside: we
   * are left to reap it (see -D below). */
  int pid_fd = -1;
  if (o.join_pid && (pid_fd = open(o.join_pid, O_RDONLY | O_CLOEXEC)) < 0)
    die(1, errno, "open %s", o.join_pid);
  if (user_fd >= 0 && setns(user_fd, CLONE_NEWUSER) < 0)
    die(1, errno, "setns %s (user)", o.join_user);
  if (mnt_fd >= 0 && setns(mnt_fd, CLONE_NEWNS) < 0)
    die(1, errno, "setns %s (mnt)", o.join_mnt);
  if (pid_fd >= 0) {
    if (setns(pid_fd, CLONE_NEWPID) < 0)
      die(1, errno, "setns %s (pid)", o.join_pid);
    close(pid_fd);
  }
  if (user_fd >= 0) {
    close(user_fd);
    become_root();
  }
  if (mnt_fd >= 0)
    close(mnt_fd);
  /* After the parent placed us in our cgroup, so that it becomes the root
   * of the new cgroup namespace. */
  if (o.cgroupns && unshare(CLONE_NEWCGROUP) < 0)
    die(1, errno, "unshare CLONE_NEWCGROUP");
  /* pivot_root moves the root of every task of the mount namespace that
   * sits at the old root, and ns-exec's own thread shares ours: give the
   * container a mount namespace of its own first (a copy of the prepared
   * tree), so ns-exec keeps the host's root. */
  if (o.root && !o.userns && unshare(CLONE_NEWNS) < 0)
    die(1, errno, "unshare CLONE_NEWNS");
  if (o.root) {
    /* Mounts copied into a namespace of a less privileged user namespace are
     * locked, and pivot_root refuses a locked new root (EINVAL): bind it
     * again from inside, as runc does. */
    if (o.userns && mount(o.root, o.root, NULL, MS_BIND | MS_REC, NULL) < 0)
      die(1, errno, "mount src=%s dst=%s flags=MS_BIND|MS_REC", o.root, o.root);
    mount_proc(o.root);
    do_pivot(o.root);
    for (int i = 0; i < o.nmask; i++)
      mask_path(o.mask[i]);
    for (int i = 0; i < o.nro; i++)
      readonly_path(o.ro[i]);
  }
  if (o.userns)
    become_root();
  for (int i = 0; i < o.nrlim; i++)
    set_rlimit(o.rlim[i]);
  int last = last_cap();
  /* Seccomp as runc orders it: without no_new_privs, loading a filter needs
   * CAP_SYS_ADMIN, so it goes in now, before capabilities and uid are
   * dropped (the filter then also covers the few calls below, which
   * Docker's profile allows); with no_new_privs it waits until just before
   * exec, so that as few syscalls as possible run under it. */
  if (o.filter.filter && !o.nnp)
    apply_filter(&o);
  if (o.has_caps)
    drop_bounding(o.caps, last);
  /* Keep the capabilities across setresuid only for uid 0, as Docker: a
   * non-root user starts with empty effective and permitted sets. */
  int cwd_done = 0;
  if (o.cwd && chdir(o.cwd) == 0)
    cwd_done = 1;
  set_identity(&o);
  if (o.cwd && !cwd_done && chdir(o.cwd) < 0)
    die(1, errno, "chdir %s", o.cwd);
  if (o.has_caps && (o.uid <= 0))
    set_caps(o.caps);
  if (o.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die(1, errno, "prctl PR_SET_NO_NEW_PRIVS");
  cloexec_fds();
  if (o.filter.filter && o.nnp)
    apply_filter(&o);
  if (o.init)
    run_init(&o);
  /* -D (box exec -d): fork the command off and let ns-exec go. With -P we
   * sit outside the joined PID namespace and the child is inside: we stay
   * as its parent and reap it, as Docker's shim does, so a finished command
   * leaves no zombie even under a PID 1 that reaps nothing (`sleep`). The
   * container cannot see us (we are not in its PID namespace); we die with
   * it, when the kernel kills the command. The status fd goes with the
   * child, which reports a failed exec as usual.
   * With -T (exec -dt) we hold the terminal's master and read what the
   * command writes to it, for nobody, as dockerd does: a master closed
   * would hang the terminal up under it. */
  if (o.background) {
    pid_t pid = fork();
    if (pid < 0)
      die(1, errno, "fork");
    if (pid > 0) {
      /* Every fd but the master: ns-exec returns once the status fd
       * reaches EOF (the child's exec), and our copies of the terminal's
       * slave must go, or the master never reads EIO when the command is
       * done with it. One close(2) each: a seccomp profile may refuse close_range. */
      int master = o.master_fd > 0 ? o.master_fd : -1;
      for (int fd = 0; fd < 1024; fd++)
        if (fd != master)
          close(fd);
      setsid();
      char buf[4096];
      while (master >= 0) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
          break;
      }
      int st;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
      _exit(0);
    }
    if (o.master_fd > 0)
      close(o.master_fd);
  }
  if (o.tty || o.background)
    setsid();
  if (o.tty && ioctl(0, TIOCSCTTY, 0) < 0)
    die(1, errno, "ioctl TIOCSCTTY");
  exec_cmd(&o);
  return 1;
}
