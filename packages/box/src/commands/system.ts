/** `box system prune [-a] [-f] [--volumes]`: every prune at once, as Docker's; `box system info` is `box info`. */
import { ExitError, flag, parseArgs, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { humanSize } from "../format.js";
import { pruneContainers } from "./container-manage.js";
import { pruneNetworks } from "./network.js";
import { pruneImages } from "./image-prune.js";
import { pruneBuildCache } from "./build.js";
import { pruneVolumes } from "./volume.js";
import { confirm } from "../prompt.js";

export const SYSTEM_HELP = `Usage:  box system COMMAND

Manage box

Commands:
  info        Display system-wide information
  prune       Remove unused data
`;

export const SYSTEM_PRUNE_HELP = `Usage:  box system prune [OPTIONS]

Remove unused data

Options:
  -a, --all       Remove all unused images not just dangling ones
  -f, --force     Do not prompt for confirmation
      --volumes   Prune anonymous volumes
`;

export async function systemCommand(paths: BoxPaths, argv: string[], dispatch: (argv: string[]) => Promise<number>): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    process.stdout.write(SYSTEM_HELP);
    return 0;
  }
  if (sub === "info") return dispatch(["info", ...rest]);
  if (sub !== "prune") {
    if (sub.startsWith("-")) throw new UsageError(`unknown flag: ${sub}`);
    throw new ExitError(`'box system ${sub}' is not a box command.\nSee 'box system --help'`, 125);
  }
  const a = parseArgs(rest, { boolean: ["all", "force", "volumes", "help"], alias: { a: "all", f: "force" } });
  if (flag(a, "help")) {
    process.stdout.write(SYSTEM_PRUNE_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box system prune" accepts no arguments`);
  const all = flag(a, "all");
  const volumes = flag(a, "volumes");
  const what = [
    "all stopped containers",
    "all networks not used by at least one container",
    ...(volumes ? ["all anonymous volumes not used by at least one container"] : []),
    all ? "all images without at least one container associated to them" : "all dangling images",
    "unused build cache",
  ];
  if (!flag(a, "force") && !(await confirm(`WARNING! This will remove:\n${what.map((w) => `  - ${w}\n`).join("")}`))) return 0;
  const out: string[] = [];
  const section = (title: string, items: string[]) => {
    if (items.length) out.push(`${title}:\n${items.map((i) => `${i}\n`).join("")}`);
  };
  const c = await pruneContainers(paths);
  section("Deleted Containers", c.deleted);
  section("Deleted Networks", pruneNetworks(paths));
  const v = volumes ? pruneVolumes(paths, false) : { gone: [], reclaimed: 0 };
  section("Deleted Volumes", v.gone);
  const i = await pruneImages(paths, all);
  section("Deleted Images", i.lines);
  const b = await pruneBuildCache(paths);
  section("Deleted build cache objects", b.removed);
  process.stdout.write(out.map((s) => `${s}\n`).join("") + `Total reclaimed space: ${humanSize(c.reclaimed + v.reclaimed + i.reclaimed + b.reclaimed)}\n`);
  return 0;
}
