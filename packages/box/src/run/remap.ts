/**
 * --userns-remap: root in the container is an unprivileged uid on the host,
 * taken from a subordinate range in /etc/subuid and /etc/subgid, as
 * dockerd's option of that name. box has no daemon, so the setting is
 * per run (`box run --userns-remap`) or for every run ($BOX_USERNS_REMAP),
 * and `--userns=host` opts one container out.
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ExitError } from "@box/cli";
import type { IdMap } from "@box/ns-exec";
import { LOCK, flock } from "@box/sys";

/** The user `--userns-remap=default` uses, created if missing (Docker's is dockremap). */
export const DEFAULT_REMAP_USER = "box";
/** Where a new range starts at the earliest, and its size: Docker's choices. */
const FIRST_ID = 100000;
const RANGE = 65536;

export interface Remap {
  /** The user (and group) whose ranges were used, as given or created. */
  user: string;
  group: string;
  uidMap: IdMap[];
  gidMap: IdMap[];
}

export interface IdFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

const ETC: IdFiles = { passwd: "/etc/passwd", group: "/etc/group", subuid: "/etc/subuid", subgid: "/etc/subgid" };

function fail(msg: string): never {
  throw new ExitError(msg, 125);
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
}

/** name:x:id:... -> [name, id] pairs of /etc/passwd or /etc/group. */
function entries(text: string): [string, number][] {
  return text
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
    .map((f) => [f[0]!, Number(f[2])]);
}

interface SubRange {
  owner: string;
  start: number;
  count: number;
}

export function parseSubIds(text: string): SubRange[] {
  const out: SubRange[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(":");
    if (f.length !== 3 || !/^\d+$/.test(f[1]!) || !/^\d+$/.test(f[2]!)) continue;
    out.push({ owner: f[0]!, start: Number(f[1]), count: Number(f[2]) });
  }
  return out;
}

/**
 * The ranges of a user (by name or by id, as shadow's tools accept both)
 * as one map: container ids from 0 upward, range after range in file order,
 * as Docker's idtools builds it.
 */
export function idMapOf(ranges: SubRange[], name: string, id: number | undefined): IdMap[] {
  const mine = ranges.filter((r) => r.owner === name || (id !== undefined && r.owner === String(id)));
  const map: IdMap[] = [];
  let inside = 0;
  for (const r of mine) {
    map.push({ inside, outside: r.start, count: r.count });
    inside += r.count;
  }
  return map;
}

/** The first RANGE-sized start at or above FIRST_ID that overlaps no range in either file. */
export function freeRange(taken: SubRange[]): number {
  let start = FIRST_ID;
  for (;;) {
    const clash = taken.find((r) => start < r.start + r.count && r.start < start + RANGE);
    if (!clash) return start;
    start = clash.start + clash.count;
  }
}

function lookup(list: [string, number][], who: string): [string, number] | undefined {
  return /^\d+$/.test(who) ? (list.find(([, id]) => id === Number(who)) ?? [who, Number(who)]) : list.find(([n]) => n === who);
}

/**
 * `default` creates the box user (a system user without a home or a shell)
 * and gives it a free range of 65536 ids, as dockerd does for dockremap.
 * Serialised by a lock in BOX_ROOT: two first runs at once make one user.
 */
function ensureDefaultUser(boxRoot: string, files: IdFiles): void {
  const has = () => entries(read(files.passwd)).some(([n]) => n === DEFAULT_REMAP_USER);
  const ranged = () => idMapOf(parseSubIds(read(files.subuid)), DEFAULT_REMAP_USER, undefined).length > 0 && idMapOf(parseSubIds(read(files.subgid)), DEFAULT_REMAP_USER, undefined).length > 0;
  if (has() && ranged()) return;
  mkdirSync(boxRoot, { recursive: true, mode: 0o711 });
  const fd = openSync(join(boxRoot, "userns.lock"), "a", 0o600);
  try {
    flock(fd, LOCK.EX, "userns.lock");
    const run = (cmd: string, args: string[]) => {
      try {
        execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
      } catch (e) {
        const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
        fail(`--userns-remap=default: ${cmd} ${args.join(" ")}: ${err || (e as Error).message}`);
      }
    };
    if (!has()) run("useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", DEFAULT_REMAP_USER]);
    if (!ranged()) {
      const start = freeRange([...parseSubIds(read(files.subuid)), ...parseSubIds(read(files.subgid))]);
      const r = `${start}-${start + RANGE - 1}`;
      run("usermod", ["--add-subuids", r, "--add-subgids", r, DEFAULT_REMAP_USER]);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * --userns-remap VALUE: `default`, USER, USER:GROUP, UID or UID:GID, as
 * dockerd takes it. The user (and the group, the user's name unless given)
 * must own ranges in /etc/subuid and /etc/subgid.
 */
export function resolveRemap(value: string, boxRoot: string, files: IdFiles = ETC): Remap {
  if (value === "") fail("--userns-remap: needs default, USER, USER:GROUP, UID or UID:GID");
  const [u, g, extra] = value.split(":");
  if (extra !== undefined || !u) fail(`--userns-remap ${value}: want default, USER, USER:GROUP, UID or UID:GID`);
  if (value === "default") ensureDefaultUser(boxRoot, files);
  const who = value === "default" ? DEFAULT_REMAP_USER : u;
  const user = lookup(entries(read(files.passwd)), who);
  if (!user) fail(`--userns-remap ${value}: no user named ${who}`);
  const groupName = g ?? user[0];
  const group = lookup(entries(read(files.group)), groupName) ?? [groupName, undefined];
  const uidMap = idMapOf(parseSubIds(read(files.subuid)), user[0], user[1]);
  if (!uidMap.length) fail(`--userns-remap ${value}: no subordinate uid range for ${user[0]} in ${files.subuid}`);
  const gidMap = idMapOf(parseSubIds(read(files.subgid)), group[0], group[1]);
  if (!gidMap.length) fail(`--userns-remap ${value}: no subordinate gid range for ${group[0]} in ${files.subgid}`);
  return { user: user[0], group: group[0], uidMap, gidMap };
}

/**
 * What a run is asked for: `--userns=host` wins, then --userns-remap, then
 * $BOX_USERNS_REMAP. Docker accepts only "host" (or nothing) for --userns.
 */
export function remapSetting(userns: string | undefined, flag: string | undefined, env = process.env.BOX_USERNS_REMAP): string | undefined {
  if (userns !== undefined && userns !== "" && userns !== "host") fail(`invalid --userns: ${userns} (only "host" is supported)`);
  if (userns === "host") return undefined;
  return flag ?? (env || undefined);
}
