export const HELP = `Usage:  box [OPTIONS] COMMAND

A container runtime made of small tools: ns-exec, ovl-mount, mkroot.

Commands:
  run         Create and run a new container from an image
  ps          List containers
  rm          Remove one or more containers
  images      List images
  import      Import a root filesystem tarball as an image
  rmi         Remove one or more images
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
      --network string         Connect a container to a network: none (default
                               until bridge networking lands) or host
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
