/** box stop, kill, wait, start, restart, rm, rename: the verbs that change a container's life. */
import { parseArgs, flag, str, UsageError, ExitError, describeChain } from "@box/cli";
import type { Duplex } from "node:stream";
import type { BoxPaths } from "../paths.js";
import { getContainer, locked, stopContainer, destroyContainer, signalNumber, markStopped, waitExited, refresh, sleep, monitorPid, type Ctr } from "../container/ops.js";
import { liveState, loadRecord, saveRecord } from "../container/state.js";
import { releaseName, reserveName, validateName, lookupName } from "../container/names.js";
import { removeIfDead } from "../container/dead.js";
import { removeAnonymousVolumes } from "../container/volumes.js";
import { resolveContainer } from "../container/lookup.js";
import { startDetached, type StartOptions } from "../run/start.js";
import { attachStreams, connectAttach, parseDetachKeys, type AttachOptions } from "./attach.js";
import { START_HELP } from "../help.js";

/** Run fn for each operand, Docker's way: print the operand on success, the error on stderr, exit 1 if any failed. */
async function each(refs: string[], what: string, fn: (ref: string) => Promise<string | void>): Promise<number> {
  if (refs.length === 0) throw new UsageError(`"box ${what}" requires at least 1 argument`);
  let code = 0;
  for (const ref of refs) {
    try {
      const out = await fn(ref);
      process.stdout.write((out ?? ref) + "\n");
    } catch (e) {
      process.stderr.write(`box: Error response from daemon: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  return code;
}

function timeoutOf(a: ReturnType<typeof parseArgs>): number | undefined {
  const t = str(a, "time") ?? str(a, "timeout");
  if (t === undefined) return undefined;
  if (!/^-?\d+$/.test(t)) throw new UsageError(`invalid argument "${t}" for "-t, --time" flag`);
  return Number(t) < 0 ? 3600 * 24 : Number(t);
}

export async function stopCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["time", "timeout", "signal"], alias: { t: "time", s: "signal" } });
  const t = timeoutOf(a);
  return each(a.rest, "stop", (ref) => locked(p, ref, (c) => stopContainer(p, c, t ?? 10, str(a, "signal"))));
}

export async function killCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["signal"], alias: { s: "signal" } });
  const sig = signalNumber(str(a, "signal") ?? "SIGKILL");
  return each(a.rest, "kill", async (ref) => {
    const c = getContainer(p, ref);
    if (!c.state.Running || !c.state.Pid) throw new ExitError(`cannot kill container: ${ref}: container ${c.id} is not running`, 1);
    // A SIGKILL from the user is a stop: the restart policy does not undo it.
    if (sig === 9) markStopped(p, c.id);
    process.kill(c.state.Pid, sig);
  });
}

export async function waitCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {});
  if (a.rest.length === 0) throw new UsageError('"box wait" requires at least 1 argument');
  let code = 0;
  for (const ref of a.rest) {
    try {
      const c = getContainer(p, ref);
      await waitExited(p, c.id, Number.MAX_SAFE_INTEGER);
      process.stdout.write(`${liveState(p, c.id, loadRecord(p, c.id)).ExitCode}\n`);
    } catch (e) {
      process.stderr.write(`box: Error response from daemon: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  return code;
}

/** Start a container that is not running; false if it already ran. */
async function start(p: BoxPaths, c: Ctr, opts: StartOptions = {}): Promise<boolean> {
  if (c.state.Running || c.state.Restarting) return false;
  if (c.state.MonitorAlive) await waitExited(p, c.id, 5000);
  // The old monitor's cleanup gives back the endpoint and the cgroup: let it finish before a new start makes them.
  for (const end = Date.now() + 5000; monitorPid(p, c.id) !== undefined && Date.now() < end; ) await sleep(10);
  await startDetached(p, c.rec, opts);
  return true;
}

export async function startCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["attach", "interactive", "help"], string: ["detach-keys"], alias: { a: "attach", i: "interactive" } });
  if (flag(a, "help")) {
    process.stdout.write(START_HELP);
    return 0;
  }
  if (!flag(a, "attach") && !flag(a, "interactive")) return each(a.rest, "start", (ref) => locked(p, ref, async (c) => void (await start(p, c))));
  if (a.rest.length === 0) throw new UsageError('"box start" requires at least 1 argument');
  if (a.rest.length > 1) throw new ExitError("you cannot start and attach multiple containers at once", 1);
  const keys = parseDetachKeys(str(a, "detach-keys") ?? "ctrl-p,ctrl-q");
  return startAttached(p, a.rest[0]!, flag(a, "interactive"), keys);
}

/**
 * box start -a / -i: Docker's order, attach first and then start. The
 * monitor registers our end of a socketpair as an attach client before the
 * command runs, so the output is ours from its first byte. -i alone attaches
 * too, as in Docker. Exits with the container's status, or 0 on detach.
 */
async function startAttached(p: BoxPaths, ref: string, interactive: boolean, keys: number[]): Promise<number> {
  let session: Promise<boolean> | undefined;
  let id = "";
  const streams = (c: Ctr): AttachOptions => ({
    stdin: interactive && c.rec.Config.OpenStdin,
    tty: c.rec.Config.Tty,
    keys,
    closeStdin: true,
    proxySignalsTo: () => {
      try {
        const s = liveState(p, c.id, loadRecord(p, c.id));
        return (s.Running && s.Pid) || undefined;
      } catch {
        return undefined; // removed meanwhile
      }
    },
  });
  await locked(p, ref, async (c) => {
    id = c.id;
    const attach = (sock: Duplex) => {
      session = attachStreams(sock, streams(c), c.id.slice(0, 12));
      // Awaited below; a failed start throws its own error first.
      session.catch(() => {});
    };
    const started = await start(p, c, { attach });
    // Already running: attach as box attach does (Docker's start -a of a running container).
    if (!started) {
      const now = refresh(p, c);
      if (!now.state.Running) throw new ExitError(`container ${c.id.slice(0, 12)} is restarting, wait until the container is running`, 1);
      session = attachStreams(await connectAttach(p, now), { ...streams(now), closeStdin: false }, c.id.slice(0, 12));
    }
  });
  if (await session!) return 0;
  await waitExited(p, id, 10_000);
  return liveState(p, id, loadRecord(p, id)).ExitCode;
}

export async function restartCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["time", "timeout", "signal"], alias: { t: "time", s: "signal" } });
  const t = timeoutOf(a) ?? 10;
  return each(a.rest, "restart", (ref) =>
    locked(p, ref, async (c) => {
      await stopContainer(p, c, t, str(a, "signal"));
      await start(p, refresh(p, c));
    }),
  );
}

export async function rmCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force", "volumes", "link"], alias: { f: "force", v: "volumes", l: "link" } });
  const force = flag(a, "force");
  return each(a.rest, "rm", async (ref) => {
    if (removeIfDead(p, resolveContainer(p, ref))) return;
    await locked(p, ref, async (c) => {
      if ((c.state.Running || c.state.Restarting) && !force) {
        const what = c.state.Restarting ? "restarting" : "running";
        throw new ExitError(`cannot remove container "${c.rec.Name}": container is ${what}: stop the container before removing or force remove`, 1);
      }
      await destroyContainer(p, c);
      // -v: its anonymous volumes go with it; named ones and bind mounts never do.
      if (flag(a, "volumes")) removeAnonymousVolumes(p, c.rec.HostConfig.Binds);
    });
  });
}

export async function renameCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {});
  if (a.rest.length !== 2) throw new UsageError('"box rename" requires exactly 2 arguments');
  const [ref, name] = a.rest as [string, string];
  validateName(name);
  await locked(p, ref, async (c) => {
    const old = c.rec.Name.replace(/^\//, "");
    if (old === name) throw new ExitError(`Renaming a container with the same name as its current name`, 1);
    try {
      reserveName(p, name, c.id);
    } catch (e) {
      throw new ExitError((e as Error).message, 1);
    }
    const rec = loadRecord(p, c.id);
    rec.Name = `/${name}`;
    saveRecord(p, rec);
    if (lookupName(p, old) === c.id) releaseName(p, old);
  });
  return 0;
}

export { sleep };
