/** `box history IMAGE`: the config's history, newest first, each entry with its layer's size. */
import { ExitError, flag, parseArgs, str, UsageError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { humanAgo, humanSize, table } from "../format.js";
import { renderTemplate } from "../template.js";

export const HISTORY_HELP = `Usage:  box history [OPTIONS] IMAGE

Show the history of an image

Options:
      --format string   Format output using a Go template, or json
  -H, --human           Print sizes and dates in human readable format (default true)
      --no-trunc        Don't truncate output
  -q, --quiet           Only show image IDs
`;

export interface HistoryRow {
  ID: string;
  CreatedAt: string;
  CreatedBy: string;
  Size: number;
  Comment: string;
}

/**
 * Rows newest first. Entries with `empty_layer` have no layer; the others take the diff_ids in
 * order. Only the top row is the image itself: the layers below have no image of their own in
 * this store, so they are `<missing>`, as Docker shows for pulled images.
 */
export function historyRows(id: string, config: { created?: string; history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>; rootfs: { diff_ids: string[] } }, sizes: number[]): HistoryRow[] {
  const rows: HistoryRow[] = [];
  let layer = 0;
  const history = config.history?.length ? config.history : config.rootfs.diff_ids.map(() => ({ created: config.created }));
  for (const h of history) {
    const empty = (h as { empty_layer?: boolean }).empty_layer === true;
    const size = empty ? 0 : (sizes[layer] ?? 0);
    if (!empty) layer++;
    rows.push({ ID: "<missing>", CreatedAt: h.created ?? "", CreatedBy: (h as { created_by?: string }).created_by ?? "", Size: size, Comment: (h as { comment?: string }).comment ?? "" });
  }
  rows.reverse();
  if (rows[0]) rows[0].ID = id;
  return rows;
}

export async function historyCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help", "no-trunc", "quiet", "human"], string: ["format"], alias: { q: "quiet", H: "human" } });
  if (flag(a, "help")) {
    process.stdout.write(HISTORY_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new UsageError(`"box history" requires exactly 1 argument`);
  let m;
  try {
    m = await new Store(paths.root).manifestOf(a.rest[0] as string);
  } catch (e) {
    throw new ExitError("", 1, { cause: e });
  }
  const noTrunc = flag(a, "no-trunc");
  const rows = historyRows(m.manifest.config.digest, m.config, m.sizes);
  const id = (s: string) => (s === "<missing>" || noTrunc ? s : s.replace(/^sha256:/, "").slice(0, 12));
  if (flag(a, "quiet")) {
    for (const r of rows) process.stdout.write(`${id(r.ID)}\n`);
    return 0;
  }
  const format = str(a, "format");
  if (format === "json") {
    for (const r of rows) process.stdout.write(`${JSON.stringify({ ...r, ID: id(r.ID), Size: humanSize(r.Size) })}\n`);
    return 0;
  }
  if (format !== undefined) {
    for (const r of rows) process.stdout.write(`${renderTemplate(format, { ...r, ID: id(r.ID), Size: humanSize(r.Size), CreatedSince: humanAgo(r.CreatedAt) })}\n`);
    return 0;
  }
  const by = (s: string) => (noTrunc || s.length <= 45 ? s : `${s.slice(0, 44)}…`);
  process.stdout.write(
    table([
      ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
      ...rows.map((r) => [id(r.ID), humanAgo(r.CreatedAt || undefined), by(r.CreatedBy), humanSize(r.Size), r.Comment]),
    ]),
  );
  return 0;
}
