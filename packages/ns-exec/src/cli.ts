import type { Tool } from "@box/cli";
import { fromArgv } from "./argv.js";
import { nsExec } from "./run.js";

export const HELP = `Usage: ns-exec [options] [--] COMMAND [ARG...]

Run COMMAND in new or existing namespaces, optionally pivot_root'ed into DIR.

Namespaces:
  -p, --pid                 new PID namespace; COMMAND runs as its PID 1
  -m, --mount               new mount namespace
  -u, --uts                 new UTS namespace (hostname)
  -i, --ipc                 new IPC namespace
  -n, --net[=PATH]          new network namespace, or enter the one at PATH
  -C, --cgroupns            new cgroup namespace
  -U, --user                new user namespace (with --map-root-user or --uid-map)
      --map-root-user       map root inside to the caller's uid and gid
      --uid-map IN:OUT:N    map N uids from IN (inside) to OUT (outside); repeatable
      --gid-map IN:OUT:N    same for gids (defaults to the uid map)
      --join PID            enter every namespace of process PID (its user namespace where it differs)
      --join-ns TYPE=PATH   enter one namespace: TYPE is user, cgroup, ipc, uts, net, pid or mnt

Root filesystem (with --mount and --pid):
  -r, --root DIR            pivot_root into DIR, with /proc, /sys (ro) and a minimal /dev
      --read-only           mount the root read-only
      --bind SRC:DST[:ro]   bind-mount host SRC at DST inside; repeatable
      --tmpfs DST[:OPTS]    mount a tmpfs at DST (default size=65536k); repeatable
      --hosts FILE          content for /etc/hosts (default: localhost and the hostname)
      --resolv-conf FILE    content for /etc/resolv.conf (default: the host's, minus loopback)
      --mask PATH           hide PATH inside (a file behind /dev/null, a dir behind an empty tmpfs)
      --ro-path PATH        make PATH inside read-only; repeatable

Process:
      --hostname NAME       hostname (needs --uts)
  -e, --env NAME[=VALUE]    set a variable; NAME alone copies it from here; repeatable
      --clear-env           start from an empty environment (the default with --root)
      --keep-env            keep this environment even with --root
  -w, --cwd DIR             working directory inside
  -S, --setuid USER         run as USER (name from DIR/etc/passwd, or a number)
  -G, --setgid GROUP        run with GROUP as primary group
      --groups GID,...      supplementary groups (default: USER's in the root's /etc/group)
      --rlimit NAME=SOFT[:HARD]  e.g. nofile=1024:4096; "unlimited" allowed; repeatable
      --caps MASK           keep only these capabilities (hex, as CapBnd in /proc/PID/status)
      --no-new-privileges   set no_new_privs: setuid binaries gain nothing
      --seccomp FILE        load a seccomp filter: a Docker JSON profile (compiled
                              for --caps) or a program from 'seccomp compile'
  -t, --tty                 run COMMAND on a new pseudo-terminal relayed to this one
                            (with --root or --join PID, one of the container's
                            own /dev/pts, also bound as /dev/console)
      --init                run a minimal init as PID 1 that reaps and forwards signals
  -h, --help                show this help

Exit status: COMMAND's own; 128+N if it was killed by signal N; 126 if it cannot
be executed; 127 if it is not found; 1 if ns-exec failed; 2 for bad usage.
`;

export const nsExecTool: Tool = {
  name: "ns-exec",
  async run(argv) {
    const { options, help } = fromArgv(argv);
    if (help) {
      process.stdout.write(HELP);
      return 0;
    }
    return nsExec(options);
  },
};
