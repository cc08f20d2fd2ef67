/**
 * box pause, unpause, update and stats: the verbs that act on a container's
 * cgroup (through @box/cgset) rather than on its processes.
 */
import { totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { parseArgs, flag, str, UsageError, ExitError, describeChain } from "@box/cli";
import type { Cgroup, Limits } from "@box/cgset";
import type { BoxPaths } from "../paths.js";
import { getContainer, locked, type Ctr } from "../container/ops.js";
import { findCgroup } from "../container/cgroup.js";
import { dockerResources, listIds, loadRecord, liveState, saveRecord } from "../container/state.js";
import { parseResourceFlags, resourceOpts, RESOURCE_SPEC, RESOURCE_HELP } from "../run/resources.js";
import { humanSize, table } from "../format.js";
import { renderTemplate } from "../template.js";

/** Each operand in turn, Docker's way: print it on success, the error on stderr, exit 1 if any failed. */
async function each(refs: string[], what: string, fn: (ref: string) => Promise<void>): Promise<number> {
  if (refs.length === 0) throw new UsageError(`"box ${what}" requires at least 1 argument`);
  let code = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
      process.stdout.write(ref + "\n");
    } catch (e) {
      process.stderr.write(`box: Error response from daemon: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  return code;
}

function runningCgroup(c: Ctr): Cgroup {
  if (!c.state.Running || c.state.Settling) throw new ExitError(`container ${c.id} is not running`, 1);
  const cg = findCgroup(c.rec.CgroupPath);
  if (!cg) throw new ExitError(`container ${c.id} has no cgroup (started by an older box)`, 1);
  return cg;
}

export async function pauseCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {});
  return each(a.rest, "pause", (ref) =>
    locked(p, ref, async (c) => {
      const cg = runningCgroup(c);
      if (c.state.Paused) throw new ExitError(`container ${c.id} is already paused`, 1);
      cg.freeze();
    }),
  );
}

export async function unpauseCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {});
  return each(a.rest, "unpause", (ref) =>
    locked(p, ref, async (c) => {
      const cg = runningCgroup(c);
      if (!c.state.Paused) throw new ExitError(`container ${c.id} is not paused`, 1);
      cg.thaw();
    }),
  );
}

export const UPDATE_HELP = `Usage:  box update [OPTIONS] CONTAINER [CONTAINER...]

Update configuration of one or more containers

Options:
${RESOURCE_HELP}`;

export async function updateCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { ...RESOURCE_SPEC, boolean: ["help"] });
  if (flag(a, "help")) {
    process.stdout.write(UPDATE_HELP);
    return 0;
  }
  const limits = parseResourceFlags(resourceOpts(a.opts));
  if (Object.keys(limits).length === 0) throw new UsageError("you must provide one or more flags when using this command");
  return each(a.rest, "update", (ref) =>
    locked(p, ref, async (c) => {
      // The live cgroup first: a limit the kernel refuses is not put on record.
      const cg = c.state.Running ? findCgroup(c.rec.CgroupPath) : undefined;
      cg?.update(limits);
      const rec = loadRecord(p, c.id);
      const merged: Limits = { ...(rec.Limits ?? {}), ...limits };
      rec.Limits = merged;
      rec.HostConfig = { ...rec.HostConfig, ...dockerResources(merged) };
      saveRecord(p, rec);
    }),
  );
}

interface Sample {
  c: Ctr;
  cpuNs: number;
  at: number;
  mem: number;
  memLimit: number;
  pids: number;
  blkRead: number;
  blkWrite: number;
  netRx: number;
  netTx: number;
}

/** Bytes through the container's network namespace, loopback aside (/proc/PID/net/dev). */
function netBytes(pid: number): [number, number] {
  let rx = 0;
  let tx = 0;
  try {
    for (const line of readFileSync(`/proc/${pid}/net/dev`, "utf8").split("\n").slice(2)) {
      const [name, rest] = line.split(":");
      if (!rest || name!.trim() === "lo") continue;
      const f = rest.trim().split(/\s+/).map(Number);
      rx += f[0] ?? 0;
      tx += f[8] ?? 0;
    }
  } catch {
    // the container is gone
  }
  return [rx, tx];
}

function sample(c: Ctr): Sample {
  const s: Sample = { c, cpuNs: 0, at: Number(process.hrtime.bigint()), mem: 0, memLimit: 0, pids: 0, blkRead: 0, blkWrite: 0, netRx: 0, netTx: 0 };
  const cg = c.state.Running ? findCgroup(c.rec.CgroupPath) : undefined;
  if (!cg) return s;
  try {
    const st = cg.stats();
    s.cpuNs = st.cpu?.usageNs ?? 0;
    s.mem = st.memory?.usage ?? 0;
    s.memLimit = st.memory?.limit ?? 0;
    s.pids = st.pids?.current ?? 0;
    s.blkRead = st.io?.readBytes ?? 0;
    s.blkWrite = st.io?.writeBytes ?? 0;
  } catch {
    // removed meanwhile: zeros, as Docker shows for a stopped container
  }
  [s.netRx, s.netTx] = netBytes(c.state.Pid);
  return s;
}

/** go-units BytesSize: binary units, four significant digits ("3.535MiB"). */
function bytesSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

function statsRow(prev: Sample, cur: Sample): Record<string, string> {
  const wall = cur.at - prev.at;
  const cpu = wall > 0 && cur.cpuNs >= prev.cpuNs ? ((cur.cpuNs - prev.cpuNs) / wall) * 100 : 0;
  // No memory limit: Docker shows the host's memory as the limit.
  const limit = cur.memLimit || totalmem();
  const running = cur.c.state.Running;
  return {
    ID: cur.c.id.slice(0, 12),
    Container: cur.c.id.slice(0, 12),
    Name: cur.c.rec.Name.replace(/^\//, ""),
    CPUPerc: running ? `${cpu.toFixed(2)}%` : "0.00%",
    MemUsage: running ? `${bytesSize(cur.mem)} / ${bytesSize(limit)}` : "0B / 0B",
    MemPerc: running ? `${((cur.mem / limit) * 100).toFixed(2)}%` : "0.00%",
    NetIO: `${humanSize(cur.netRx)} / ${humanSize(cur.netTx)}`,
    BlockIO: `${humanSize(cur.blkRead)} / ${humanSize(cur.blkWrite)}`,
    PIDs: String(cur.pids),
  };
}

const COLUMNS: [string, string][] = [
  ["CONTAINER ID", "ID"],
  ["NAME", "Name"],
  ["CPU %", "CPUPerc"],
  ["MEM USAGE / LIMIT", "MemUsage"],
  ["MEM %", "MemPerc"],
  ["NET I/O", "NetIO"],
  ["BLOCK I/O", "BlockIO"],
  ["PIDS", "PIDs"],
];

function render(rows: Record<string, string>[], format: string | undefined): string {
  if (format === "json") return rows.map((r) => JSON.stringify(r) + "\n").join("");
  if (format !== undefined && format !== "table") return rows.map((r) => renderTemplate(format, r) + "\n").join("");
  return table([COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, k]) => r[k]!))]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function statsCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["no-stream", "all", "no-trunc"], string: ["format"], alias: { a: "all" } });
  const format = str(a, "format");
  const targets = (): Ctr[] => {
    if (a.rest.length) return a.rest.map((ref) => getContainer(p, ref));
    const out: Ctr[] = [];
    for (const id of listIds(p)) {
      try {
        const rec = loadRecord(p, id);
        const state = liveState(p, id, rec);
        if (state.Running || flag(a, "all")) out.push({ id, rec, state });
      } catch {
        // being created or removed
      }
    }
    return out;
  };
  // CPU % needs two readings; the first set comes a moment before the one shown.
  let prev = new Map(targets().map((c) => [c.id, sample(c)]));
  await sleep(flag(a, "no-stream") ? 500 : 1000);
  for (;;) {
    const cur = targets().map(sample);
    const rows = cur.map((s) => statsRow(prev.get(s.c.id) ?? s, s));
    if (flag(a, "no-stream")) {
      process.stdout.write(render(rows, format));
      return 0;
    }
    // Docker redraws the table in place.
    process.stdout.write("\x1b[2J\x1b[H" + render(rows, format));
    prev = new Map(cur.map((s) => [s.c.id, s]));
    await sleep(1000);
  }
}
