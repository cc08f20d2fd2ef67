import { RESOURCE_HELP } from "./run/resources.js";

export const HELP = `Usage:  box [OPTIONS] COMMAND

A container runtime made of small tools: ns-exec, ovl-mount, mkroot, cgset,
netns-bridge and seccomp.

Commands (containers):
  run         Create and run a new container from an image
  create      Create a new container
  ps          List containers
  logs        Fetch the logs of a container
  exec        Execute a command in a running container
  attach      Attach local standard input, output, and error streams to a running container
  start       Start one or more stopped containers
  stop        Stop one or more running containers
  restart     Restart one or more containers
  kill        Kill one or more running containers
  wait        Block until one or more containers stop, then print their exit codes
  rm          Remove one or more containers
  rename      Rename a container
  inspect     Return low-level information on containers
  top         Display the running processes of a container
  pause       Pause all processes within one or more containers
  unpause     Unpause all processes within one or more containers
  stats       Display a live stream of container(s) resource usage statistics
  update      Update configuration (resource limits) of one or more containers
  commit      Create a new image from a container's changes
  diff        Inspect changes to files or directories on a container's filesystem
  cp          Copy files/folders between a container and the local filesystem
  export      Export a container's filesystem as a tar archive
  port        List port mappings of a container
  network     Manage networks (create, ls, rm, inspect, prune, connect, disconnect)
  container   Manage containers (ls, rm, prune, and every verb above)
  volume      Manage volumes (create, ls, inspect, rm, prune)
  system      Manage box (df, info, prune: every prune at once)

Commands (images):
  images      List images
  image       Manage images (ls, pull, push, inspect, prune...)
  pull        Download an image from a registry
  push        Upload an image to a registry
  login       Log in to a registry
  logout      Log out from a registry
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  history     Show the history of an image
  rmi         Remove one or more images
  import      Import a root filesystem tarball as an image
  save        Save images to a tar archive (docker-archive and OCI layout)
  load        Load an image from a tar archive
  build       Build an image from a Dockerfile
  builder     Manage the build cache (prune)

  info        Display system-wide information
  version     Show the box version

Environment:
  BOX_ROOT    persistent state (images, containers); default /var/lib/box
  BOX_RUN     runtime state; default /run/box
  BOX_USERNS_REMAP
              --userns-remap for every run (as dockerd's userns-remap)

Run 'box COMMAND --help' for more information on a command.
`;

export const RUN_HELP = `Usage:  box run [OPTIONS] IMAGE [COMMAND] [ARG...]

Create and run a new container from an image

Options:
      --cap-add list           Add Linux capabilities
      --cap-drop list          Drop Linux capabilities
  -d, --detach                 Run container in background and print container ID
      --entrypoint string      Overwrite the default ENTRYPOINT of the image
  -e, --env list               Set environment variables
      --env-file list          Read in a file of environment variables
      --explain                Print the equivalent pipeline of ns-exec, ovl-mount
                               and mkroot instead of running
  -h, --hostname string        Container host name
      --init                   Run an init inside the container that forwards
                               signals and reaps processes
  -i, --interactive            Keep STDIN open
      --log-opt list           Log driver options (max-size, max-file)
      --name string            Assign a name to the container
      --add-host list          Add a custom host-to-IP mapping (host:ip, or
                               host:host-gateway for the network's gateway)
      --dns list               Set custom DNS servers
      --expose list            Expose a port or a range of ports (for -P)
      --ip string              IPv4 address (e.g., 172.30.100.104)
      --network string         Connect a container to a network: bridge (the
                               default, box0), a user network, none, host or
                               container:NAME
      --network-alias list     Add network-scoped alias for the container
  -p, --publish list           Publish a container's port(s) to the host
                               ([IP:][HOSTPORT:]CPORT[/tcp|udp], ranges too)
  -P, --publish-all            Publish all exposed ports to random ports
      --pull string            Pull image before running ("always", "missing",
                               "never") (default "missing")
      --privileged             Give extended privileges to this container
      --read-only              Mount the container's root filesystem as read only
      --restart string         Restart policy: no, on-failure[:N], always,
                               unless-stopped (with -d)
      --rm                     Automatically remove the container when it exits
      --security-opt list      Security Options (no-new-privileges,
                               seccomp=unconfined|builtin|PROFILE.json)
      --stop-signal string     Signal to stop the container
      --mount mount            Attach a filesystem mount to the container
                               (type=bind|volume|tmpfs,source=,target=,readonly)
      --tmpfs list             Mount a tmpfs directory
  -t, --tty                    Allocate a pseudo-TTY
      --ulimit list            Ulimit options (NAME=SOFT[:HARD])
  -u, --user string            Username or UID (format: <name|uid>[:<group|gid>])
      --userns string          User namespace to use: "host" opts out of a remap
      --userns-remap string    Root in the container is a subordinate id of the
                               host: default (user box, created if missing),
                               USER[:GROUP] or UID[:GID] with ranges in
                               /etc/subuid and /etc/subgid (default
                               $BOX_USERNS_REMAP)
  -v, --volume list            Bind mount a volume (HOST:CONTAINER[:ro])
  -w, --workdir string         Working directory inside the container

Resource options (a cgroup per container, through cgset):
      --cgroup-parent string       Optional parent cgroup for the container
                                   (default box, below the caller's cgroup; a
                                   leading / starts at the hierarchy's root)
${RESOURCE_HELP}
Exit status: 125 if box itself fails, 126 if the command cannot be invoked,
127 if it cannot be found, otherwise the command's own exit status.
`;

/** Docker's create takes run's options but -d and --rm's immediate effect: the container waits for box start. */
export const CREATE_HELP = RUN_HELP.replace("Usage:  box run [OPTIONS]", "Usage:  box create [OPTIONS]")
  .replace("Create and run a new container from an image", "Create a new container (start it with box start)")
  .replace(/^  -d, --detach.*\n/m, "");

export const START_HELP = `Usage:  box start [OPTIONS] CONTAINER [CONTAINER...]

Start one or more stopped containers

Options:
  -a, --attach               Attach STDOUT/STDERR and forward signals
      --detach-keys string   Override the key sequence for detaching a
                             container (default "ctrl-p,ctrl-q")
  -i, --interactive          Attach container's STDIN

With -a or -i, box attaches before the container's command runs (no output
is lost) and exits with the container's exit status.
`;

export const EXEC_HELP = `Usage:  box exec [OPTIONS] CONTAINER COMMAND [ARG...]

Execute a command in a running container

Options:
  -d, --detach               Detached mode: run command in the background
  -e, --env list             Set environment variables
      --env-file list        Read in a file of environment variables
  -i, --interactive          Keep STDIN open even if not attached
  -t, --tty                  Allocate a pseudo-TTY (not with -d)
  -u, --user string          Username or UID (format: "<name|uid>[:<group|gid>]")
  -w, --workdir string       Working directory inside the container

Exit status: the command's own; 126 if it cannot be invoked, 127 if it
cannot be found, 1 if the container is not running. With -d, 0 once the
command has started.
`;
