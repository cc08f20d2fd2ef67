/**
 * box attach [--no-stdin] [--detach-keys KEYS] CONTAINER: connect this
 * terminal to a detached container through the attach.sock its box-monitor
 * serves. Output arrives in Docker's multiplexed frames (stream byte, three
 * zero bytes, big-endian length), so stdout and stderr stay apart; input
 * goes to the container's stdin or terminal. Ctrl-P Ctrl-Q detaches.
 */
import { connect } from "node:net";
import { parseArgs, flag, str, UsageError, ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { containerRunDir } from "../paths.js";
import { getContainer, waitExited } from "../container/ops.js";
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

export async function attachCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["no-stdin", "sig-proxy"], string: ["detach-keys"], alias: {} });
  if (a.rest.length !== 1) throw new UsageError('"box attach" requires exactly 1 argument');
  const keys = parseDetachKeys(str(a, "detach-keys") ?? "ctrl-p,ctrl-q");
  const c = getContainer(p, a.rest[0]!);
  if (!c.state.Running) throw new ExitError("You cannot attach to a stopped container, start it first", 1);
  const dir = containerRunDir(p, c.id);
  // sun_path holds 108 bytes; a relative name from the run dir always fits.
  const prev = process.cwd();
  process.chdir(dir);
  const sock = connect({ path: "attach.sock" });
  process.chdir(prev);

  let detached = false;
  const withStdin = !flag(a, "no-stdin") && c.rec.Config.OpenStdin;
  const input = process.stdin;
  let restore = () => {};
  const done = new Promise<void>((resolve, reject) => {
    sock.on("error", (e) => reject(new ExitError(`attach ${c.id.slice(0, 12)}: ${e.message}`, 1)));
    sock.on("close", () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", (e) => reject(new ExitError(`attach ${c.id.slice(0, 12)}: ${e.message}`, 1)));
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

  if (withStdin) {
    if (input.isTTY && c.rec.Config.Tty) {
      input.setRawMode(true);
      restore = () => input.setRawMode(false);
    }
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
      // Our input ended: stay attached to the output, as docker attach does.
    });
    input.resume();
  }

  await done;
  restore();
  if (withStdin) {
    input.pause();
    (input as unknown as { unref?: () => void }).unref?.();
  }
  if (detached) {
    process.stderr.write("read escape sequence\n");
    return 0;
  }
  await waitExited(p, c.id, 10_000);
  return liveState(p, c.id, loadRecord(p, c.id)).ExitCode;
}
