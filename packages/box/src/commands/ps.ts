/** box ps [-a] [-q] [--no-trunc]: containers, in Docker's columns. */
import { parseArgs, flag, str, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { listIds, loadRecord, type ContainerRecord } from "../container/state.js";
import { livePid } from "../container/process.js";
import { humanAgo, table } from "../format.js";

export interface PsRow {
  rec: ContainerRecord;
  running: boolean;
  status: string;
}

/** Docker's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(rec: ContainerRecord, running: boolean, nowMs = Date.now()): string {
  if (running) return `Up ${humanAgo(rec.State.StartedAt, nowMs).replace(/ ago$/, "").replace(/^Less than a second$/, "Less than a second")}`;
  if (rec.State.Status === "created") return "Created";
  if (rec.State.Status === "running") return "Exited (255) (box lost track of it)";
  return `Exited (${rec.State.ExitCode}) ${humanAgo(rec.State.FinishedAt, nowMs)}`;
}

export function rows(p: BoxPaths): PsRow[] {
  const out: PsRow[] = [];
  for (const id of listIds(p)) {
    let rec: ContainerRecord;
    try {
      rec = loadRecord(p, id);
    } catch {
      continue; // being created or removed right now
    }
    const running = livePid(p, id) !== undefined;
    out.push({ rec, running, status: statusText(rec, running) });
  }
  return out.sort((a, b) => b.rec.Created.localeCompare(a.rec.Created));
}

export async function psCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["all", "quiet", "no-trunc"], string: ["format"], alias: { a: "all", q: "quiet" } });
  const list = rows(p).filter((r) => flag(a, "all") || r.running);
  const trunc = !flag(a, "no-trunc");
  const id = (r: PsRow) => (trunc ? r.rec.Id.slice(0, 12) : r.rec.Id);
  if (flag(a, "quiet")) {
    process.stdout.write(list.map((r) => id(r) + "\n").join(""));
    return 0;
  }
  const format = str(a, "format");
  if (format === "json") {
    for (const r of list)
      process.stdout.write(JSON.stringify({ ID: id(r), Image: r.rec.ImageName, Command: [r.rec.Path, ...r.rec.Args].join(" "), CreatedAt: r.rec.Created, Status: r.status, State: r.running ? "running" : r.rec.State.Status === "running" ? "exited" : r.rec.State.Status, Ports: "", Names: r.rec.Name.slice(1) }) + "\n");
    return 0;
  }
  if (format !== undefined) throw new UsageError(`unsupported --format '${format}' (json is supported)`);
  const cmd = (r: PsRow) => {
    const c = JSON.stringify([r.rec.Path, ...r.rec.Args].join(" "));
    return trunc && c.length > 22 ? c.slice(0, 20) + "…\"" : c;
  };
  process.stdout.write(
    table([
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
      ...list.map((r) => [id(r), r.rec.ImageName, cmd(r), humanAgo(r.rec.Created), r.status, "", r.rec.Name.slice(1)]),
    ]),
  );
  return 0;
}
