/**
 * box attach [--no-stdin] [--detach-keys KEYS] CONTAINER: connect this
 * terminal to a detached container through the attach.sock its box-monitor
 * serves. Output arrives in Docker's multiplexed frames (stream byte, three
 * zero bytes, big-endian length), so stdout and stderr stay apart; input
 * goes to the container's stdin or terminal. Ctrl-P Ctrl-Q detaches.
 * `box start -a` speaks the same protocol over a socketpair (attachStreams).
 */
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { parseArgs, flag, str, UsageError, ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { containerRunDir } from "../paths.js";
import { getContainer, waitExited, type Ctr } from "../container/ops.js";
import { liveState, loadRecord } from "../container/state.js";

/** Docker's --detach-keys: "ctrl-p,ctrl-q", letters as themselves. */
export function parseDetachKeys(s: string): number[] {
  return s.split(",").map((k) => {
    const m = /^ctrl-([a-z@\[\\\]^_])$/i.exec(k);
    if (m) return m[1]!.toLowerCase().charCodeAt(0) & 0x1f;
    if (k.length === 1) return k.charCodeAt(0);
    throw new UsageError(`invalid detach keys '${s}'`);
  });
}

/** Connect to the attach.sock of a running container's monitor. */
export async function connectAttach(p: BoxPaths, c: Ctr): Promise<Duplex> {
  // sun_path holds 108 bytes; a relative name from the run dir always fits.
  const prev = process.cwd();
  process.chdir(containerRunDir(p, c.id));
  const sock = connect({ path: "attach.sock" });
  process.chdir(prev);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", (e) => reject(new ExitError(`attach ${c.id.slice(0, 12)}: ${e.message}`, 1)));
  });
  return sock;
}

export interface AttachOptions {
  /** Send our stdin to the container's stdin or terminal. */
  stdin: boolean;
  /** The container has a terminal: raw mode for ours while attached. */
  tty: boolean;
  keys: number[];
  /** When our stdin ends, shut down our writing side: the monitor then closes the container's stdin (start -ai). */
  closeStdin?: boolean;
  /** Pass the signals we get to this pid (the container's PID 1), as Docker's sig-proxy. */
  proxySignalsTo?: () => number | undefined;
}

/** Signals passed on to the container, as `docker start -a` proxies them (not with a terminal). */
const PROXIED: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/**
 * Copy frames from sock to our stdout and stderr, and our stdin to sock,
 * until the monitor closes it (the container is done) or the detach keys
 * are typed. Resolves to true when detached.
 */
export async function attachStreams(sock: Duplex, o: AttachOptions, name: string): Promise<boolean> {
  let detached = false;
  const input = process.stdin;
  let restore = () => {};
  const done = new Promise<void>((resolve, reject) => {
    sock.on("error", (e) => reject(new ExitError(`attach ${name}: ${e.message}`, 1)));
    sock.on("close", () => resolve());
  });

  let pending = Buffer.alloc(0);
  sock.on("data", (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 8) {
      const len = pending.readUInt32BE(4);
      if (pending.length < 8 + len) break;
      const body = pending.subarray(8, 8 + len);
      (pending[0] === 2 ? process.stderr : process.stdout).write(body);
      pending = pending.subarray(8 + len);
    }
  });

  // The command may run (and print) before the monitor has recorded its
  // pid: a signal that comes first waits for it.
  const signals: NodeJS.Signals[] = [];
  let retry: NodeJS.Timeout | undefined;
  const flush = () => {
    retry = undefined;
    const pid = o.proxySignalsTo?.();
    if (!pid) {
      retry = setTimeout(flush, 20);
      return;
    }
    for (const sig of signals.splice(0)) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile: its exit ends the attach
      }
    }
  };
  const forward = (sig: NodeJS.Signals) => {
    signals.push(sig);
    if (!retry) flush();
  };
  if (o.proxySignalsTo && !o.tty) for (const s of PROXIED) process.on(s, forward);

  if (o.stdin) {
    if (input.isTTY && o.tty) {
      input.setRawMode(true);
      restore = () => input.setRawMode(false);
    }
    const keys = o.keys;
    let matched = 0;
    input.on("data", (d: Buffer) => {
      // Hold back a prefix of the detach keys until we know it is not one.
      const out: number[] = [];
      for (const b of d) {
        if (b === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            detached = true;
            sock.end();
            sock.destroy();
            return;
          }
          continue;
        }
        if (matched) out.push(...keys.slice(0, matched));
        matched = 0;
        out.push(b);
      }
      if (out.length) sock.write(Buffer.from(out));
    });
    input.on("end", () => {
      // Otherwise, our input ended: stay attached to the output, as docker attach does.
      if (o.closeStdin && !detached) sock.end();
    });
    input.resume();
  }

  try {
    await done;
  } finally {
    restore();
    clearTimeout(retry);
    for (const s of PROXIED) process.off(s, forward);
    if (o.stdin) {
      input.pause();
      (input as unknown as { unref?: () => void }).unref?.();
    }
  }
  if (detached) process.stderr.write("read escape sequence\n");
  return detached;
}

export async function attachCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["no-stdin", "sig-proxy"], string: ["detach-keys"], alias: {} });
  if (a.rest.length !== 1) throw new UsageError('"box attach" requires exactly 1 argument');
  const keys = parseDetachKeys(str(a, "detach-keys") ?? "ctrl-p,ctrl-q");
  const c = getContainer(p, a.rest[0]!);
  if (!c.state.Running) throw new ExitError("You cannot attach to a stopped container, start it first", 1);
  const sock = await connectAttach(p, c);
  const stdin = !flag(a, "no-stdin") && c.rec.Config.OpenStdin;
  if (await attachStreams(sock, { stdin, tty: c.rec.Config.Tty, keys }, c.id.slice(0, 12))) return 0;
  await waitExited(p, c.id, 10_000);
  return liveState(p, c.id, loadRecord(p, c.id)).ExitCode;
}
