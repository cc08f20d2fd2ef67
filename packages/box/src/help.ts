export const HELP = `Usage:  box [OPTIONS] COMMAND

A container runtime made of small tools: ns-exec, ovl-mount, mkroot.

Commands:
  run         Create and run a new container from an image
  ps          List containers
  rm          Remove one or more containers
  network     Manage networks (create, ls, rm, inspect, prune)
  port        List port mappings of a container
  images      List images
  image       Manage images (ls, pull, push, inspect, prune...)
  import      Import a root filesystem tarball as an image
  rmi         Remove one or more images
  pull        Download an image from a registry
  push        Upload an image to a registry
  login       Log in to a registry
  logout      Log out from a registry
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  history     Show the history of an image
  save        Save images to a tar archive (docker-archive and OCI layout)
  load        Load an image from a tar archive
  build       Build an image from a Dockerfile
  builder     Manage the build cache (prune)
  commit      Create a new image from a container's changes
  diff        Inspect changes to files or directories on a container's filesystem
  version     Show the box version

Environment:
  BOX_ROOT    persistent state (images, containers); default /var/lib/box
  BOX_RUN     runtime state; default /run/box

Run 'box COMMAND --help' for more information on a command.
`;

export const RUN_HELP = `Usage:  box run [OPTIONS] IMAGE [COMMAND] [ARG...]

Create and run a new container from an image

Options:
      --cap-add list           Add Linux capabilities
      --cap-drop list          Drop Linux capabilities
      --entrypoint string      Overwrite the default ENTRYPOINT of the image
  -e, --env list               Set environment variables
      --env-file list          Read in a file of environment variables
      --explain                Print the equivalent pipeline of ns-exec, ovl-mount
                               and mkroot instead of running
  -h, --hostname string        Container host name
      --init                   Run an init inside the container that forwards
                               signals and reaps processes
  -i, --interactive            Keep STDIN open
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
      --privileged             Give extended privileges to this container
      --read-only              Mount the container's root filesystem as read only
      --rm                     Automatically remove the container when it exits
      --security-opt list      Security Options (no-new-privileges)
      --tmpfs list             Mount a tmpfs directory
  -t, --tty                    Allocate a pseudo-TTY
      --ulimit list            Ulimit options (NAME=SOFT[:HARD])
  -u, --user string            Username or UID (format: <name|uid>[:<group|gid>])
  -v, --volume list            Bind mount a volume (HOST:CONTAINER[:ro])
  -w, --workdir string         Working directory inside the container

Exit status: 125 if box itself fails, 126 if the command cannot be invoked,
127 if it cannot be found, otherwise the command's own exit status.
`;
