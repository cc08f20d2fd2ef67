/**
 * box logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER: the json-file
 * log box-monitor writes, each line back to the stream it came from.
 */
import { closeSync, existsSync, openSync, readSync, readFileSync, statSync } from "node:fs";
import { parseArgs, flag, str, UsageError, ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { getContainer, sleep } from "../container/ops.js";
import { liveState, loadRecord } from "../container/state.js";
import { logPath } from "../run/start.js";

interface Entry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** Docker's --since/--until: RFC 3339, a Unix time (with fraction), or a duration back from now (10m, 1h30m). */
export function parseTime(s: string, nowMs = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const d = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s);
  if (d && s !== "") return nowMs - ((Number(d[1] ?? 0) * 60 + Number(d[2] ?? 0)) * 60 + Number(d[3] ?? 0)) * 1000;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`invalid value for "since"/"until": ${s}`);
  return t;
}

/** RFC3339Nano to ms, keeping order for equal ms by the string itself. */
const timeMs = (t: string) => Date.parse(t);

function parseLines(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as Entry);
    } catch {
      // a line cut by a crash of the monitor: skip it
    }
  }
  return out;
}

export async function logsCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["follow", "timestamps", "details"], string: ["tail", "since", "until", "n"], alias: { f: "follow", t: "timestamps" } });
  if (a.rest.length !== 1) throw new UsageError('"box logs" requires exactly 1 argument');
  const c = getContainer(p, a.rest[0]!);
  const tail = str(a, "tail") ?? str(a, "n") ?? "all";
  if (tail !== "all" && !/^-?\d+$/.test(tail)) throw new UsageError(`invalid value for --tail: ${tail}`);
  const since = str(a, "since") !== undefined ? parseTime(str(a, "since")!) : undefined;
  const until = str(a, "until") !== undefined ? parseTime(str(a, "until")!) : undefined;
  const ts = flag(a, "timestamps");
  const path = c.rec.LogPath ?? logPath(p, c.id);
  if (c.rec.HostConfig.LogConfig?.Type && c.rec.HostConfig.LogConfig.Type !== "json-file")
    throw new ExitError(`configured logging driver does not support reading`, 1);

  const keep = (e: Entry) => (since === undefined || timeMs(e.time) >= since) && (until === undefined || timeMs(e.time) < until);
  const emit = (e: Entry) => {
    const data = ts ? `${e.time} ${e.log}` : e.log;
    (e.stream === "stderr" ? process.stderr : process.stdout).write(data);
  };

  // Rotated files first, oldest (highest number) first.
  const files: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) files.unshift(`${path}.${i}`);
  let entries: Entry[] = [];
  for (const f of files) entries.push(...parseLines(readFileSync(f, "utf8")));
  let offset = 0;
  let ino = 0;
  if (existsSync(path)) {
    const buf = readFileSync(path);
    const st = statSync(path);
    ino = st.ino;
    const end = buf.lastIndexOf(10) + 1; // a line being written stays for -f
    offset = end;
    entries.push(...parseLines(buf.subarray(0, end).toString("utf8")));
  }
  entries = entries.filter(keep);
  if (tail !== "all" && Number(tail) >= 0) entries = Number(tail) === 0 ? [] : entries.slice(-Number(tail));
  for (const e of entries) emit(e);

  if (flag(a, "follow")) {
    let rest = Buffer.alloc(0);
    const read = (file: string, from: number): number => {
      let fd: number;
      try {
        fd = openSync(file, "r");
      } catch {
        return from;
      }
      try {
        const chunk = Buffer.alloc(1 << 16);
        let pos = from;
        for (;;) {
          const n = readSync(fd, chunk, 0, chunk.length, pos);
          if (n <= 0) break;
          pos += n;
          rest = Buffer.concat([rest, chunk.subarray(0, n)]);
          const nl = rest.lastIndexOf(10);
          if (nl >= 0) {
            for (const e of parseLines(rest.subarray(0, nl + 1).toString("utf8"))) if (keep(e)) emit(e);
            rest = rest.subarray(nl + 1);
          }
        }
        return pos;
      } finally {
        closeSync(fd);
      }
    };
    for (;;) {
      let st;
      try {
        st = statSync(path);
      } catch {
        st = undefined;
      }
      if (st && (st.ino !== ino || st.size < offset)) {
        // Rotated or truncated: what was appended to the old file went to .1.
        if (st.ino !== ino && ino !== 0) read(`${path}.1`, offset);
        ino = st.ino;
        offset = 0;
        rest = Buffer.alloc(0);
      }
      if (st) offset = read(path, offset);
      let s;
      try {
        s = liveState(p, c.id, loadRecord(p, c.id));
      } catch {
        break; // removed
      }
      if (!s.Running && !s.Restarting && !s.MonitorAlive) {
        if (st) offset = read(path, offset);
        break;
      }
      await sleep(100);
    }
  }
  return 0;
}
