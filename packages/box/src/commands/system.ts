/** `box system prune [-a] [-f] [--volumes]`: every prune at once, as Docker's; `box system info` is `box info`. */
import { join } from "node:path";
import { ExitError, flag, parseArgs, str, UsageError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { humanSize, table } from "../format.js";
import { containerDir } from "../paths.js";
import { listIds, liveState, loadRecord } from "../container/state.js";
import { listVolumes, usersOf } from "../container/volumes.js";
import { treeSize } from "../container/size.js";
import { pruneContainers } from "./container-manage.js";
import { pruneNetworks } from "./network.js";
import { pruneImages } from "./image-prune.js";
import { pruneBuildCache } from "./build.js";
import { pruneVolumes } from "./volume.js";
import { confirm } from "../prompt.js";

export const SYSTEM_HELP = `Usage:  box system COMMAND

Manage box

Commands:
  df          Show disk usage
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
  if (sub === "df") return df(paths, rest);
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

/** `box system df`: what images, containers, volumes and the build cache hold, and what a prune would give back. */
async function df(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["format"] });
  const store = new Store(paths.root);
  const recs = listIds(paths).flatMap((id) => {
    try {
      const rec = loadRecord(paths, id);
      return [{ id, rec, running: liveState(paths, id, rec).Running }];
    } catch {
      return [];
    }
  });
  // Images: each layer counted once; reclaimable is what only unused images hold.
  const usedImages = new Set(recs.map((r) => r.rec.Image));
  const layerSize = new Map<string, number>();
  const layersOf = new Map<string, string[]>();
  for (const summary of await store.list()) {
    const img = await store.get(summary.id);
    const ids = img.layers.map((d) => d.slice(d.lastIndexOf("/") + 1));
    layersOf.set(img.id, ids);
    for (const l of ids) if (!layerSize.has(l)) layerSize.set(l, (await store.layerMeta(`sha256:${l}`))?.size ?? treeSize(join(paths.root, "layers", l)));
  }
  const inUse = new Set([...layersOf].filter(([id]) => usedImages.has(id)).flatMap(([, ls]) => ls));
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  const imageSize = sum([...layerSize.values()]);
  const imageFree = sum([...layerSize].filter(([l]) => !inUse.has(l)).map(([, n]) => n));
  const upper = (id: string) => treeSize(join(containerDir(paths, id), "upper"));
  const ctrSize = sum(recs.map((r) => upper(r.id)));
  const ctrFree = sum(recs.filter((r) => !r.running).map((r) => upper(r.id)));
  const vols = listVolumes(paths).map((v) => ({ size: treeSize(v.Mountpoint), used: usersOf(paths, v.Name).length > 0 }));
  const cache = treeSize(join(paths.root, "builder", "cache"));
  const pct = (free: number, total: number) => (total > 0 ? ` (${Math.round((free / total) * 100)}%)` : "");
  const rows = [
    { Type: "Images", TotalCount: layersOf.size, Active: [...layersOf.keys()].filter((id) => usedImages.has(id)).length, Size: imageSize, Reclaimable: imageFree },
    { Type: "Containers", TotalCount: recs.length, Active: recs.filter((r) => r.running).length, Size: ctrSize, Reclaimable: ctrFree },
    { Type: "Local Volumes", TotalCount: vols.length, Active: vols.filter((v) => v.used).length, Size: sum(vols.map((v) => v.size)), Reclaimable: sum(vols.filter((v) => !v.used).map((v) => v.size)) },
    { Type: "Build Cache", TotalCount: cache > 0 ? 1 : 0, Active: 0, Size: cache, Reclaimable: cache },
  ];
  const format = str(a, "format");
  if (format === "json" || format === "{{json .}}") {
    process.stdout.write(rows.map((r) => JSON.stringify({ ...r, Size: humanSize(r.Size), Reclaimable: `${humanSize(r.Reclaimable)}${pct(r.Reclaimable, r.Size)}` }) + "\n").join(""));
    return 0;
  }
  process.stdout.write(
    table([
      ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
      ...rows.map((r) => [r.Type, String(r.TotalCount), String(r.Active), humanSize(r.Size), `${humanSize(r.Reclaimable)}${r.Type === "Build Cache" ? "" : pct(r.Reclaimable, r.Size)}`]),
    ]),
  );
  return 0;
}
