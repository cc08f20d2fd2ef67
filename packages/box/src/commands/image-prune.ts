/** `box image prune [-a] [-f]`: remove dangling images (with -a: every image no container uses). */
import { flag, parseArgs, UsageError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { listIds, loadRecord } from "../container/state.js";
import { humanSize } from "../format.js";
import { confirmRemoval } from "../prompt.js";

export const PRUNE_HELP = `Usage:  box image prune [OPTIONS]

Remove unused images

Options:
  -a, --all     Remove all unused images, not just dangling ones
  -f, --force   Do not prompt for confirmation
`;

export async function imagePruneCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["all", "force", "help"], alias: { a: "all", f: "force" } });
  if (flag(a, "help")) {
    process.stdout.write(PRUNE_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box image prune" accepts no arguments`);
  const all = flag(a, "all");
  if (!flag(a, "force") && !(await confirmRemoval(all ? "all images without at least one container associated to them" : "all dangling images"))) return 0;
  const r = await pruneImages(paths, all);
  if (r.lines.length) process.stdout.write(`Deleted Images:\n${r.lines.map((l) => `${l}\n`).join("")}\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  return 0;
}

/** Remove dangling images, or with `all` every image no container uses (image prune, system prune). */
export async function pruneImages(paths: BoxPaths, all: boolean): Promise<{ lines: string[]; reclaimed: number }> {
  const used = new Set<string>();
  for (const id of listIds(paths)) {
    try {
      used.add(loadRecord(paths, id).Image);
    } catch {
      // a container being removed right now
    }
  }
  return new Store(paths.root).prune({ all, keep: used });
}
