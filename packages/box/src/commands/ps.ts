/** box ps [-a] [-q] [-n N] [-l] [--no-trunc] [--filter K=V]... [--format json|TEMPLATE]: containers, in Docker's columns. */
import { parseArgs, flag, list, str, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { listIds, liveState, loadRecord, type ContainerRecord, type LiveState } from "../container/state.js";
import { deadRecord } from "../container/dead.js";
import { join } from "node:path";
import { humanAgo, humanSize, table } from "../format.js";
import { containerDir } from "../paths.js";
import { treeSize } from "../container/size.js";
import { renderTemplate } from "../template.js";
import { endpointsById, portsText } from "../run/endpoint.js";

export interface PsRow {
  rec: ContainerRecord;
  state: LiveState;
  running: boolean;
  status: string;
  ports: string;
}

const upFor = (iso: string, nowMs: number) => humanAgo(iso, nowMs).replace(/ ago$/, "");

/** Docker's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Restarting (1) 1 second ago", "Created". */
export function statusText(s: LiveState, nowMs = Date.now()): string {
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanAgo(s.FinishedAt, nowMs)}`;
  if (s.Running) return `Up ${upFor(s.StartedAt, nowMs)}${s.Paused ? " (Paused)" : ""}`;
  if (s.Status === "created") return "Created";
  if (s.Status === "dead") return "Dead";
  if (!s.FinishedAt) return `Exited (${s.ExitCode}) (exit status unknown)`;
  return `Exited (${s.ExitCode}) ${humanAgo(s.FinishedAt, nowMs)}`;
}

/** Docker's State column for --format: created, running, paused, restarting, exited, dead. */
export function stateWord(s: LiveState): string {
  if (s.Status === "created" || s.Status === "dead") return s.Status;
  return s.Restarting ? "restarting" : s.Running ? (s.Paused ? "paused" : "running") : "exited";
}

export function rows(p: BoxPaths): PsRow[] {
  const out: PsRow[] = [];
  const eps = endpointsById();
  for (const id of listIds(p)) {
    let rec: ContainerRecord;
    try {
      rec = loadRecord(p, id);
    } catch {
      // Being made or removed right now, or dead: its maker was killed.
      const dead = deadRecord(p, id);
      if (dead) out.push({ rec: dead, state: { ...dead.State, Restarting: false, RestartCount: 0, MonitorPid: 0, MonitorAlive: false, Settling: false, Paused: false }, running: false, status: "Dead", ports: "" });
      continue;
    }
    const state = liveState(p, id, rec);
    const ep = state.Running ? eps.get(id) : undefined;
    out.push({ rec, state, running: state.Running, status: statusText(state), ports: ep ? portsText(ep.publish) : "" });
  }
  return out.sort((a, b) => b.rec.Created.localeCompare(a.rec.Created));
}

function matches(r: PsRow, filters: string[]): boolean {
  const by = new Map<string, string[]>();
  for (const f of filters) {
    const i = f.indexOf("=");
    if (i < 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    const k = f.slice(0, i);
    if (!["name", "id", "status", "ancestor", "exited"].includes(k)) throw new UsageError(`invalid filter '${k}'`);
    by.set(k, [...(by.get(k) ?? []), f.slice(i + 1)]);
  }
  // Docker: values of one key are ORed, keys are ANDed.
  for (const [k, vals] of by) {
    const ok = vals.some((v) => {
      switch (k) {
        case "name":
          return new RegExp(v).test(r.rec.Name.slice(1));
        case "id":
          return r.rec.Id.startsWith(v);
        case "status":
          return stateWord(r.state) === v;
        case "ancestor":
          return r.rec.ImageName === v || r.rec.ImageName === `${v}:latest` || r.rec.Image.replace(/^sha256:/, "").startsWith(v.replace(/^sha256:/, ""));
        case "exited":
          return stateWord(r.state) === "exited" && String(r.state.ExitCode) === v;
      }
      return false;
    });
    if (!ok) return false;
  }
  return true;
}

export async function psCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["all", "quiet", "no-trunc", "latest", "size"], string: ["format", "last"], multi: ["filter"], alias: { a: "all", q: "quiet", f: "filter", n: "last", l: "latest", s: "size" } });
  const filters = list(a, "filter");
  // A status filter shows stopped containers too, as in Docker.
  const all = flag(a, "all") || filters.some((f) => f.startsWith("status=") || f.startsWith("exited="));
  let list_ = rows(p).filter((r) => (all || r.running) && matches(r, filters));
  const last = str(a, "last");
  if (last !== undefined) list_ = rows(p).filter((r) => matches(r, filters)).slice(0, Number(last));
  if (flag(a, "latest")) list_ = rows(p).filter((r) => matches(r, filters)).slice(0, 1);
  const trunc = !flag(a, "no-trunc");
  const id = (r: PsRow) => (trunc ? r.rec.Id.slice(0, 12) : r.rec.Id);
  if (flag(a, "quiet")) {
    process.stdout.write(list_.map((r) => id(r) + "\n").join(""));
    return 0;
  }
  // -s: the container's writable layer, and with the image under it (Docker's "virtual").
  const sizes = flag(a, "size") ? await imageSizes(p) : undefined;
  const sizeText = (r: PsRow) => {
    const own = treeSize(join(containerDir(p, r.rec.Id), "upper"));
    return `${humanSize(own)} (virtual ${humanSize(own + (sizes?.get(r.rec.Image) ?? 0))})`;
  };
  const fields = (r: PsRow) => ({
    ID: id(r),
    Image: r.rec.ImageName,
    Command: trunc ? cmd(r, true) : JSON.stringify([r.rec.Path, ...r.rec.Args].join(" ")),
    CreatedAt: r.rec.Created,
    RunningFor: humanAgo(r.rec.Created),
    Status: r.status,
    State: stateWord(r.state),
    Ports: r.ports,
    Names: r.rec.Name.slice(1),
    Labels: "",
    Mounts: r.rec.HostConfig.Binds.map((b) => b.split(":")[0]).join(","),
    Networks: r.rec.HostConfig.NetworkMode,
    Size: sizes ? sizeText(r) : "",
  });
  const format = str(a, "format");
  if (format === "json" || format === "{{json .}}") {
    process.stdout.write(list_.map((r) => JSON.stringify(fields(r)) + "\n").join(""));
    return 0;
  }
  if (format !== undefined && format !== "table") {
    const tmpl = format.replace(/^table\s+/, "");
    const out = list_.map((r) => renderTemplate(tmpl, fields(r)) + "\n").join("");
    process.stdout.write(out);
    return 0;
  }
  process.stdout.write(
    table([
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", ...(sizes ? ["SIZE"] : [])],
      ...list_.map((r) => [id(r), r.rec.ImageName, cmd(r, trunc), humanAgo(r.rec.Created), r.status, r.ports, r.rec.Name.slice(1), ...(sizes ? [sizeText(r)] : [])]),
    ]),
  );
  return 0;
}

function cmd(r: PsRow, trunc: boolean): string {
  const c = JSON.stringify([r.rec.Path, ...r.rec.Args].join(" "));
  return trunc && c.length > 22 ? c.slice(0, 20) + "…\"" : c;
}

/** Each stored image's size by id (what `ps -s` adds as "virtual"). */
async function imageSizes(p: BoxPaths): Promise<Map<string, number>> {
  const { Store } = await import("@box/mkroot");
  return new Map((await new Store(p.root).list()).map((i) => [i.id, i.size]));
}
