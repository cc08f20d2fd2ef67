/** `box container COMMAND`: Docker's management command over the container verbs, and `container prune`. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { flag, parseArgs, UsageError } from "@box/cli";
import { manage } from "./manage.js";
import type { BoxPaths } from "../paths.js";
import { containerDir } from "../paths.js";
import { listIds } from "../container/state.js";
import { removeIfDead } from "../container/dead.js";
import { destroyContainer, locked } from "../container/ops.js";
import { NoSuchContainerError } from "../container/lookup.js";
import { humanSize } from "../format.js";
import { confirmRemoval } from "../prompt.js";
import { treeSize } from "../container/size.js";

export const CONTAINER_HELP = `Usage:  box container COMMAND

Manage containers

Commands:
  attach      Attach local standard input, output, and error streams to a running container
  commit      Create a new image from a container's changes
  cp          Copy files/folders between a container and the local filesystem
  create      Create a new container
  diff        Inspect changes to files or directories on a container's filesystem
  exec        Execute a command in a running container
  export      Export a container's filesystem as a tar archive
  inspect     Display detailed information on one or more containers
  kill        Kill one or more running containers
  logs        Fetch the logs of a container
  ls          List containers
  pause       Pause all processes within one or more containers
  port        List port mappings or a specific mapping for the container
  prune       Remove all stopped containers
  rename      Rename a container
  restart     Restart one or more containers
  rm          Remove one or more containers
  run         Create and run a new container from an image
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  top         Display the running processes of a container
  unpause     Unpause all processes within one or more containers
  update      Update configuration of one or more containers
  wait        Block until one or more containers stop, then print their exit codes

Run 'box container COMMAND --help' for more information on a command.
`;

export const CONTAINER_PRUNE_HELP = `Usage:  box container prune [OPTIONS]

Remove all stopped containers

Options:
  -f, --force   Do not prompt for confirmation
`;

/** `box container X ...` -> the top-level verb it stands for. */
const ALIASES: Record<string, string> = {
  ls: "ps",
  list: "ps",
  ps: "ps",
  remove: "rm",
  prune: "container-prune",
  ...Object.fromEntries(
    ["attach", "commit", "cp", "create", "diff", "exec", "export", "inspect", "kill", "logs", "pause", "port", "rename", "restart", "rm", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"].map((v) => [v, v]),
  ),
};

export async function containerCommand(argv: string[], dispatch: (argv: string[]) => Promise<number>): Promise<number> {
  return manage("container", CONTAINER_HELP, ALIASES, argv, dispatch);
}

/** `box container prune [-f]`: remove every container that is not running, paused or restarting, as Docker. */
export async function containerPruneCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force", "help"], alias: { f: "force" } });
  if (flag(a, "help")) {
    process.stdout.write(CONTAINER_PRUNE_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box container prune" accepts no arguments`);
  if (!flag(a, "force") && !(await confirmRemoval("all stopped containers"))) return 0;
  const { deleted, reclaimed } = await pruneContainers(paths);
  if (deleted.length) process.stdout.write(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join("")}\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
  return 0;
}

/** Remove every container that is not running, paused or restarting (container prune, system prune). */
export async function pruneContainers(paths: BoxPaths): Promise<{ deleted: string[]; reclaimed: number }> {
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const id of listIds(paths)) {
    // Measured only for what goes: a running container's upper may be large.
    const upper = () => treeSize(join(containerDir(paths, id), "upper"));
    try {
      const deadSize = existsSync(join(containerDir(paths, id), "config.json")) ? 0 : upper();
      if (removeIfDead(paths, id)) {
        deleted.push(id);
        reclaimed += deadSize;
        continue;
      }
      await locked(paths, id, async (c) => {
        if (c.state.Running || c.state.Restarting || c.state.Paused) return;
        reclaimed += upper();
        await destroyContainer(paths, c);
        deleted.push(id);
      });
    } catch (e) {
      // Removed by someone else meanwhile: nothing to prune.
      if (!(e instanceof NoSuchContainerError)) throw e;
    }
  }
  return { deleted, reclaimed };
}
