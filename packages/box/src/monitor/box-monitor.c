/*
 * box-monitor: keeps one detached container, as conmon does for podman.
 *
 * `box run -d` spawns this program in a new session and goes away. The
 * monitor is a child subreaper: it runs the Node start stage (`box __start
 * ID`) with the container's stdio (pipes, or a pty for -t), and once that
 * stage has exec'd the container and exited, the container's PID 1 (ns-init)
 * is reparented here. The monitor then
 *   - copies the container's output to a Docker json-file log
 *     ($BOX_ROOT/containers/ID/ID-json.log), with size cap and rotation;
 *   - serves attach.sock in its run dir: output frames out (Docker's
 *     multiplexed stream: 8-byte header {stream,0,0,0,size BE32}), raw
 *     bytes in to the container's stdin (with -i) or terminal (with -t);
 *   - reaps the container, records its exit in state.json (write+rename),
 *     applies the restart policy, and exits when the container is done.
 * One small C process per container: a Node process would cost ~40 MB.
 *
 * Protocol:
 *   fd 3 at start (-S): one line back to box, "OK PID" once the container
 *     runs, or "E CODE message" if it could not be started; then closed.
 *   the start stage's fd 3: "P PID" (the container runs as PID), "X STATUS"
 *     (it ran and was already reaped by the stage), or "E CODE message".
 *   -a / -c: at the end, exec `box __cleanup ID` (same pid): it removes a
 *     --rm container, and gives back a network endpoint owned by this pid.
 *   -A FD: an attach client already connected (`box start -a`: one end of a
 *     socketpair), registered before the container's command runs, so it
 *     gets the output from the first byte; it is not dropped when it falls
 *     behind (the container waits, up to ATTACH_STALL_S, as with Docker), and
 *     its end of input closes the container's stdin (Docker's StdinOnce).
 *   A client that shuts down its writing side sends no more input but still
 *     gets the output; one that closes is dropped.
 *   RUNDIR/stop: present when box stop/kill/rm asked for the container to stay
 *     down; the restart policy is then not applied.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define LINE_MAX_BYTES 16384 /* Docker splits log entries at 16 KiB */
#define MAX_EARLY 64
#define ATTACH_STALL_S 10

enum { POLICY_NO, POLICY_ON_FAILURE, POLICY_ALWAYS, POLICY_UNLESS_STOPPED };

static struct {
  const char *id;
  const char *rundir;
  const char *logpath;
  int tty, interactive, autoremove, cleanup;
  long long max_size;
  int max_file;
  int policy, max_retries;
  char **start_argv; /* prefix; "__start" ID appended */
  int start_argc;
  int attach_fd;
} cfg = {.max_file = 1, .attach_fd = -1};

static int box_fd = -1;     /* status back to box, until the first start is known */
static int log_fd = -1;
static long long log_size;
static int out_r = -1, err_r = -1; /* read ends (or the pty master in out_r) */
static int out_w = -1, err_w = -1; /* write ends (or the pty slave in out_w), kept for restarts */
static int in_r = -1, in_w = -1;   /* stdin pipe with -i and no tty */
static int listen_fd = -1;
static int clients[MAX_CLIENTS];
static int client_eof[MAX_CLIENTS]; /* its input has ended: poll it for hangup only */
static int nclients;
static int once_fd = -1;           /* the -A client */

static pid_t start_pid;      /* the Node start stage, while it runs */
static int start_fd = -1;    /* its status pipe */
static int start_reaped, start_status, start_eof;
static char start_line[2048];
static size_t start_len;

static pid_t ctr_pid;        /* the container's PID 1 */
static char ctr_start[32];
static char started_at[64], finished_at[64];
static int restart_count;
static char monitor_start[32];
static struct { pid_t pid; int status; } early[MAX_EARLY];
static int nearly;

struct linebuf { char buf[LINE_MAX_BYTES]; size_t len; const char *stream; };
static struct linebuf out_buf = {.stream = "stdout"}, err_buf = {.stream = "stderr"};

static void now_rfc3339(char *out, size_t n) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, n, "%s.%09ldZ", base, ts.tv_nsec);
}

/* Field 22 of /proc/PID/stat: with the pid, names a process for good. */
static void proc_start(pid_t pid, char *out, size_t n) {
  char path[64], buf[1024];
  out[0] = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t r = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (r <= 0)
    return;
  buf[r] = 0;
  char *p = strrchr(buf, ')');
  if (!p)
    return;
  p += 2;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  if (!p)
    return;
  size_t len = strcspn(p, " ");
  if (len >= n)
    len = n - 1;
  memcpy(out, p, len);
  out[len] = 0;
}

/* JSON string body for arbitrary bytes: invalid UTF-8 becomes U+FFFD, as Go's encoder does. */
static size_t json_escape(char *out, const unsigned char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
      i++;
    } else if (c == '\n') {
      out[o++] = '\\'; out[o++] = 'n'; i++;
    } else if (c == '\r') {
      out[o++] = '\\'; out[o++] = 'r'; i++;
    } else if (c == '\t') {
      out[o++] = '\\'; out[o++] = 't'; i++;
    } else if (c < 0x20) {
      o += (size_t)sprintf(out + o, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      out[o++] = (char)c;
      i++;
    } else {
      size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
      int ok = len > 0 && i + len <= n;
      for (size_t k = 1; ok && k < len; k++)
        ok = (s[i + k] & 0xc0) == 0x80;
      if (ok && len == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
        ok = 0; /* overlong, surrogate */
      if (ok && len == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90)))
        ok = 0;
      if (ok) {
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
      } else {
        memcpy(out + o, "\\ufffd", 6);
        o += 6;
        i++;
      }
    }
  }
  return o;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void open_log(int trunc) {
  if (log_fd >= 0)
    close(log_fd);
  log_fd = open(cfg.logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0640);
  struct stat st;
  log_size = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void rotate_log(void) {
  if (cfg.max_file <= 1) {
    if (ftruncate(log_fd, 0) == 0)
      log_size = 0;
    return;
  }
  char from[4200], to[4200];
  for (int i = cfg.max_file - 1; i >= 1; i--) {
    if (i == 1)
      snprintf(from, sizeof from, "%s", cfg.logpath);
    else
      snprintf(from, sizeof from, "%s.%d", cfg.logpath, i - 1);
    snprintf(to, sizeof to, "%s.%d", cfg.logpath, i);
    rename(from, to);
  }
  open_log(1);
}

static void log_entry(const char *stream, const unsigned char *s, size_t n) {
  static char line[LINE_MAX_BYTES * 6 + 256];
  if (log_fd < 0 || n == 0)
    return;
  char ts[64];
  now_rfc3339(ts, sizeof ts);
  size_t o = (size_t)sprintf(line, "{\"log\":\"");
  o += json_escape(line + o, s, n);
  o += (size_t)sprintf(line + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
  if (cfg.max_size > 0 && log_size > 0 && log_size + (long long)o > cfg.max_size)
    rotate_log();
  write_all(log_fd, line, o);
  log_size += (long long)o;
}

/* Whole lines go to the log; a line longer than 16 KiB is cut, as Docker does. */
static void log_bytes(struct linebuf *b, const char *p, size_t n) {
  while (n > 0) {
    size_t take = sizeof b->buf - b->len < n ? sizeof b->buf - b->len : n;
    memcpy(b->buf + b->len, p, take);
    b->len += take;
    p += take;
    n -= take;
    size_t startl = 0;
    for (size_t i = 0; i < b->len; i++) {
      if (b->buf[i] == '\n') {
        log_entry(b->stream, (unsigned char *)b->buf + startl, i + 1 - startl);
        startl = i + 1;
      }
    }
    if (startl == 0 && b->len == sizeof b->buf) {
      log_entry(b->stream, (unsigned char *)b->buf, b->len);
      b->len = 0;
    } else if (startl > 0) {
      memmove(b->buf, b->buf + startl, b->len - startl);
      b->len -= startl;
    }
  }
}

static void log_flush(struct linebuf *b) {
  log_entry(b->stream, (unsigned char *)b->buf, b->len);
  b->len = 0;
}

static void drop_client(int i) {
  if (clients[i] == once_fd)
    once_fd = -1;
  close(clients[i]);
  nclients--;
  clients[i] = clients[nclients];
  client_eof[i] = client_eof[nclients];
}

static void to_clients(int stream, const char *p, size_t n) {
  unsigned char hdr[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < nclients;) {
    struct iovec iov[2] = {{hdr, 8}, {(void *)p, n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    /* A client that cannot keep up is dropped rather than stall the
     * container; the one that started it blocks (SO_SNDTIMEO bounds it). */
    ssize_t w = sendmsg(clients[i], &m, clients[i] == once_fd ? MSG_NOSIGNAL : MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != (ssize_t)(n + 8))
      drop_client(i);
    else
      i++;
  }
}

/* Read what is there; returns 0 at EOF or error. */
static int pump(int fd, struct linebuf *b, int stream) {
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      return 1;
    if (r <= 0)
      return 0;
    log_bytes(b, buf, (size_t)r);
    to_clients(stream, buf, (size_t)r);
  }
}

static void json_str(FILE *f, const char *s) {
  static char esc[8192];
  size_t n = strlen(s);
  if (n > 1024)
    n = 1024;
  size_t o = json_escape(esc, (const unsigned char *)s, n);
  fputc('"', f);
  fwrite(esc, 1, o, f);
  fputc('"', f);
}

static void write_state(const char *status, int exit_code, const char *error) {
  char tmp[4200], dst[4200];
  snprintf(tmp, sizeof tmp, "%s/state.json.tmp", cfg.rundir);
  snprintf(dst, sizeof dst, "%s/state.json", cfg.rundir);
  FILE *f = fopen(tmp, "we");
  if (!f)
    return;
  int running = strcmp(status, "running") == 0;
  fprintf(f, "{\"Status\":\"%s\",\"Running\":%s,\"Pid\":%d,\"PidStart\":\"%s\",\"ExitCode\":%d,\"Error\":",
          status, running ? "true" : "false", running ? ctr_pid : 0, running ? ctr_start : "", exit_code);
  json_str(f, error);
  fprintf(f, ",\"StartedAt\":\"%s\",\"FinishedAt\":\"%s\",\"RestartCount\":%d,\"MonitorPid\":%d,\"MonitorStart\":\"%s\"}\n",
          started_at, finished_at, restart_count, getpid(), monitor_start);
  if (fclose(f) == 0)
    rename(tmp, dst);
}

static void tell_box(const char *fmt, ...) {
  if (box_fd < 0)
    return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 1)
    n = sizeof line - 1;
  write_all(box_fd, line, (size_t)n);
  close(box_fd);
  box_fd = -1;
}

static int stop_requested(void) {
  char p[4200];
  snprintf(p, sizeof p, "%s/stop", cfg.rundir);
  return access(p, F_OK) == 0;
}

static void start_container(void) {
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0) {
    write_state("exited", 125, "box-monitor: pipe2 failed");
    tell_box("E 125 box-monitor: pipe2: %s\n", strerror(errno));
    exit(1);
  }
  /* The stdin pipe that an -A client's end of input closed: a fresh one for this run. */
  if (cfg.interactive && !cfg.tty && in_w < 0) {
    int i[2];
    if (pipe2(i, O_CLOEXEC) == 0) {
      if (in_r >= 0)
        close(in_r);
      in_r = i[0];
      in_w = i[1];
      fcntl(in_w, F_SETFL, O_NONBLOCK);
    }
  }
  start_reaped = start_eof = 0;
  start_len = 0;
  nearly = 0;
  ctr_pid = 0;
  pid_t pid = fork();
  if (pid < 0) {
    write_state("exited", 125, "box-monitor: fork failed");
    tell_box("E 125 box-monitor: fork: %s\n", strerror(errno));
    exit(1);
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    int in = in_r;
    if (cfg.tty)
      in = out_w;
    else if (in < 0)
      in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (dup2(in, 0) < 0 || dup2(out_w, 1) < 0 || dup2(cfg.tty ? out_w : err_w, 2) < 0 || dup2(sp[1], 3) < 0)
      _exit(125);
    char *argv[64];
    int n = 0;
    for (int i = 0; i < cfg.start_argc && n < 60; i++)
      argv[n++] = cfg.start_argv[i];
    argv[n++] = "__start";
    argv[n++] = (char *)cfg.id;
    argv[n] = NULL;
    execv(argv[0], argv);
    char msg[512];
    int m = snprintf(msg, sizeof msg, "E 125 box-monitor: exec %s: %s\n", argv[0], strerror(errno));
    write_all(3, msg, (size_t)m);
    _exit(125);
  }
  close(sp[1]);
  start_pid = pid;
  start_fd = sp[0];
}

static int exit_code_of(int st) {
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int should_restart(int code) {
  if (stop_requested())
    return 0;
  switch (cfg.policy) {
  case POLICY_ALWAYS:
  case POLICY_UNLESS_STOPPED:
    return 1;
  case POLICY_ON_FAILURE:
    return code != 0 && (cfg.max_retries <= 0 || restart_count < cfg.max_retries);
  default:
    return 0;
  }
}

static long long restart_at_ms; /* 0: not waiting to restart */
static int last_code;
static int done;
static struct timespec run_began;

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void close_clients(void) {
  while (nclients > 0)
    drop_client(0);
}

/* The container is gone (code) or never ran (error). */
static void container_exited(int code, const char *error) {
  if (!cfg.tty) {
    if (out_r >= 0)
      pump(out_r, &out_buf, 1);
    if (err_r >= 0)
      pump(err_r, &err_buf, 2);
  } else if (out_r >= 0) {
    pump(out_r, &out_buf, 1);
  }
  log_flush(&out_buf);
  log_flush(&err_buf);
  ctr_pid = 0;
  now_rfc3339(finished_at, sizeof finished_at);
  if (!error[0] && should_restart(code)) {
    /* Docker's backoff: 100 ms doubling, reset after a run of 10 s. */
    static long long delay = 100;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - run_began.tv_sec >= 10)
      delay = 100;
    last_code = code;
    write_state("restarting", code, "");
    close_clients();
    restart_at_ms = mono_ms() + delay;
    delay = delay * 2 > 60000 ? 60000 : delay * 2;
    return;
  }
  write_state("exited", code, error);
  close_clients();
  done = 1;
}

static void container_running(pid_t pid) {
  ctr_pid = pid;
  proc_start(pid, ctr_start, sizeof ctr_start);
  now_rfc3339(started_at, sizeof started_at);
  clock_gettime(CLOCK_MONOTONIC, &run_began);
  write_state("running", 0, "");
  tell_box("OK %d\n", pid);
  /* Reaped before we knew it was the container? */
  for (int i = 0; i < nearly; i++) {
    if (early[i].pid == pid) {
      int st = early[i].status;
      early[i] = early[--nearly];
      container_exited(exit_code_of(st), "");
      return;
    }
  }
}

/* Both the start stage's status pipe and the stage itself are done. */
static void start_finished(void) {
  start_pid = 0;
  start_line[start_len] = 0;
  char *l = start_line;
  pid_t pid = 0;
  int code = -1;
  char *err = NULL;
  while (l && *l) {
    char *nl = strchr(l, '\n');
    if (nl)
      *nl = 0;
    if (l[0] == 'P' && l[1] == ' ')
      pid = atoi(l + 2);
    else if (l[0] == 'X' && l[1] == ' ')
      code = atoi(l + 2);
    else if (l[0] == 'E' && l[1] == ' ')
      err = l + 2;
    l = nl ? nl + 1 : NULL;
  }
  if (err) {
    int ecode = atoi(err);
    char *msg = strchr(err, ' ');
    msg = msg ? msg + 1 : err;
    now_rfc3339(finished_at, sizeof finished_at);
    write_state("exited", ecode ? ecode : 125, msg);
    tell_box("E %d %s\n", ecode ? ecode : 125, msg);
    done = 1;
    return;
  }
  if (pid > 0 && code >= 0) {
    /* It ran, and the stage reaped it before exiting. */
    ctr_pid = pid;
    now_rfc3339(started_at, sizeof started_at);
    clock_gettime(CLOCK_MONOTONIC, &run_began);
    tell_box("OK %d\n", pid);
    container_exited(code, "");
    return;
  }
  if (pid > 0) {
    container_running(pid);
    return;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "box start stage failed (status %d)", exit_code_of(start_status));
  now_rfc3339(finished_at, sizeof finished_at);
  write_state("exited", 125, msg);
  tell_box("E 125 %s\n", msg);
  done = 1;
}

static void reap(void) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p <= 0)
      return;
    if (p == start_pid) {
      start_reaped = 1;
      start_status = st;
      if (start_eof)
        start_finished();
    } else if (ctr_pid > 0 && p == ctr_pid) {
      container_exited(exit_code_of(st), "");
    } else if (start_pid > 0 && nearly < MAX_EARLY) {
      early[nearly].pid = p;
      early[nearly].status = st;
      nearly++;
    }
  }
}

static void make_io(void) {
  if (cfg.tty) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
      goto fail;
    char name[128];
    if (ptsname_r(m, name, sizeof name) != 0)
      goto fail;
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
      goto fail;
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(m, TIOCSWINSZ, &ws);
    out_r = m;
    out_w = s;
    fcntl(m, F_SETFL, O_NONBLOCK);
    return;
  }
  int o[2], e[2];
  if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0)
    goto fail;
  out_r = o[0]; out_w = o[1];
  err_r = e[0]; err_w = e[1];
  fcntl(out_r, F_SETFL, O_NONBLOCK);
  fcntl(err_r, F_SETFL, O_NONBLOCK);
  if (cfg.interactive) {
    int i[2];
    if (pipe2(i, O_CLOEXEC) < 0)
      goto fail;
    in_r = i[0];
    in_w = i[1];
    fcntl(in_w, F_SETFL, O_NONBLOCK);
  }
  return;
fail:
  tell_box("E 125 box-monitor: stdio for the container: %s\n", strerror(errno));
  exit(1);
}

static void make_socket(void) {
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  /* A relative name: the run dir's path may not fit in sun_path. */
  snprintf(a.sun_path, sizeof a.sun_path, "attach.sock");
  unlink("attach.sock");
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 8) < 0) {
    if (listen_fd >= 0)
      close(listen_fd);
    listen_fd = -1;
  }
}

static void client_input(int i, short revents) {
  char buf[4096];
  ssize_t r = client_eof[i] ? 0 : read(clients[i], buf, sizeof buf);
  if (r < 0 && errno == EINTR)
    return;
  if (r < 0 || (r == 0 && (revents & (POLLHUP | POLLERR)))) {
    drop_client(i);
    return;
  }
  if (r == 0) {
    /* Half-closed: no more input from it. That of the client which started
     * the container is the container's (Docker's StdinOnce): EOF on stdin. */
    client_eof[i] = 1;
    if (clients[i] == once_fd && !cfg.tty && in_w >= 0) {
      close(in_w);
      in_w = -1;
    }
    return;
  }
  int fd = cfg.tty ? out_r : in_w;
  if (fd >= 0) {
    /* The master of a pty is non-blocking; a full buffer drops input rather than stall. */
    if (write(fd, buf, (size_t)r) < 0 && errno != EAGAIN)
      drop_client(i);
  }
}

static void usage(void) {
  fputs("usage: box-monitor -i ID -d RUNDIR -l LOGFILE [-t] [-I] [-a] [-c] [-s MAXSIZE] [-n MAXFILE]\n"
        "                   [-p no|on-failure|always|unless-stopped] [-m MAXRETRIES] [-S FD] [-A FD] -- BOX...\n"
        "box-monitor is started by `box run -d`; it is not meant to be run by hand.\n",
        stderr);
  exit(2);
}

static int parse_policy(const char *s) {
  if (!strcmp(s, "no")) return POLICY_NO;
  if (!strcmp(s, "on-failure")) return POLICY_ON_FAILURE;
  if (!strcmp(s, "always")) return POLICY_ALWAYS;
  if (!strcmp(s, "unless-stopped")) return POLICY_UNLESS_STOPPED;
  usage();
  return 0;
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "+i:d:l:tIacs:n:p:m:S:A:")) != -1) {
    switch (c) {
    case 'i': cfg.id = optarg; break;
    case 'd': cfg.rundir = optarg; break;
    case 'l': cfg.logpath = optarg; break;
    case 't': cfg.tty = 1; break;
    case 'I': cfg.interactive = 1; break;
    case 'a': cfg.autoremove = 1; break;
    case 'c': cfg.cleanup = 1; break;
    case 's': cfg.max_size = atoll(optarg); break;
    case 'n': cfg.max_file = atoi(optarg); break;
    case 'p': cfg.policy = parse_policy(optarg); break;
    case 'm': cfg.max_retries = atoi(optarg); break;
    case 'S': box_fd = atoi(optarg); break;
    case 'A': cfg.attach_fd = atoi(optarg); break;
    default: usage();
    }
  }
  if (!cfg.id || !cfg.rundir || !cfg.logpath || optind >= argc)
    usage();
  cfg.start_argv = argv + optind;
  cfg.start_argc = argc - optind;
  if (box_fd >= 0)
    fcntl(box_fd, F_SETFD, FD_CLOEXEC);
  if (chdir(cfg.rundir) < 0) {
    tell_box("E 125 box-monitor: chdir %s: %s\n", cfg.rundir, strerror(errno));
    return 1;
  }
  /* Orphans of the start stage, the container's PID 1 first, come to us. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    tell_box("E 125 box-monitor: prctl PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
    return 1;
  }
  proc_start(getpid(), monitor_start, sizeof monitor_start);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  open_log(0);
  make_io();
  make_socket();
  if (cfg.attach_fd >= 0) {
    /* Before the command runs: the client misses none of its output. */
    fcntl(cfg.attach_fd, F_SETFD, FD_CLOEXEC);
    struct timeval stall = {.tv_sec = ATTACH_STALL_S};
    setsockopt(cfg.attach_fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall);
    once_fd = clients[nclients] = cfg.attach_fd;
    client_eof[nclients++] = 0;
  }
  write_state("created", 0, "");
  start_container();

  while (!done) {
    struct pollfd p[8 + MAX_CLIENTS];
    int n = 0;
    p[n++] = (struct pollfd){sfd, POLLIN, 0};
    int i_start = -1, i_out = -1, i_err = -1, i_listen = -1, i_clients;
    if (start_fd >= 0) { i_start = n; p[n++] = (struct pollfd){start_fd, POLLIN, 0}; }
    if (out_r >= 0) { i_out = n; p[n++] = (struct pollfd){out_r, POLLIN, 0}; }
    if (err_r >= 0) { i_err = n; p[n++] = (struct pollfd){err_r, POLLIN, 0}; }
    if (listen_fd >= 0) { i_listen = n; p[n++] = (struct pollfd){listen_fd, POLLIN, 0}; }
    i_clients = n;
    for (int k = 0; k < nclients; k++)
      p[n++] = (struct pollfd){clients[k], client_eof[k] ? 0 : POLLIN, 0};
    int timeout = -1;
    if (restart_at_ms) {
      long long left = restart_at_ms - mono_ms();
      timeout = left < 0 ? 0 : (int)left;
    }
    int r = poll(p, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR)
      break;
    if (restart_at_ms && mono_ms() >= restart_at_ms) {
      restart_at_ms = 0;
      if (stop_requested()) {
        write_state("exited", last_code, "");
        done = 1;
        break;
      }
      restart_count++;
      start_container();
      continue;
    }
    if (r <= 0)
      continue;
    /* Output before exits, so that the last lines land before the state says exited. */
    if (i_out >= 0 && p[i_out].revents)
      pump(out_r, &out_buf, 1);
    if (i_err >= 0 && p[i_err].revents)
      pump(err_r, &err_buf, 2);
    if (i_start >= 0 && p[i_start].revents) {
      ssize_t k = read(start_fd, start_line + start_len, sizeof start_line - 1 - start_len);
      if (k > 0) {
        start_len += (size_t)k;
      } else if (k == 0 || errno != EINTR) {
        close(start_fd);
        start_fd = -1;
        start_eof = 1;
        if (start_reaped)
          start_finished();
      }
    }
    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        /* SIGTERM/SIGINT/SIGHUP to the monitor are ignored: box stop and
         * box rm signal the container, and the monitor follows it. */
      }
      reap();
    }
    if (i_listen >= 0 && p[i_listen].revents) {
      int cfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (cfd >= 0) {
        if (nclients < MAX_CLIENTS) {
          client_eof[nclients] = 0;
          clients[nclients++] = cfd;
        } else
          close(cfd);
      }
    }
    for (int k = n - 1; k >= i_clients; k--) {
      if (p[k].revents && k - i_clients < nclients && clients[k - i_clients] == p[k].fd)
        client_input(k - i_clients, p[k].revents);
    }
  }
  if (listen_fd >= 0)
    unlink("attach.sock");
  if (cfg.autoremove || cfg.cleanup) {
    /* --rm: become `box __cleanup ID`, which removes the container's state;
     * -c (a network endpoint to give back): the same, which then keeps it. */
    char *av[64];
    int n = 0;
    for (int i = 0; i < cfg.start_argc && n < 60; i++)
      av[n++] = cfg.start_argv[i];
    av[n++] = "__cleanup";
    av[n++] = (char *)cfg.id;
    av[n] = NULL;
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execv(av[0], av);
  }
  return 0;
}
