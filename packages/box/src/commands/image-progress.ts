/**
 * Docker's pull/push progress: on a terminal, one line per layer redrawn in place
 * ("b8cad7b7a7dd: Downloading [=====>          ]  12.3MB/40MB"); elsewhere, one plain line
 * each time a layer's status changes (byte counts left out, so a log stays short).
 */
import type { Writable } from "node:stream";
import type { ProgressEvent } from "@box/mkroot";
import { humanSize } from "../format.js";

const BAR = 50;

export function bar(current: number, total: number): string {
  if (!(total > 0)) return "";
  const filled = Math.min(BAR, Math.floor((current / total) * BAR));
  const arrow = filled < BAR ? ">" : "";
  const eq = "=".repeat(Math.max(0, filled - (arrow ? 1 : 0)));
  return `[${eq}${arrow}${" ".repeat(Math.max(0, BAR - eq.length - arrow.length))}] ${humanSize(current).padStart(7)}/${humanSize(total)}`;
}

export function formatEvent(e: ProgressEvent, withBar: boolean): string {
  const detail = e.status === "Mounted from" && e.detail ? ` ${e.detail}` : e.detail ? ` (${e.detail})` : "";
  const b = withBar && (e.status === "Downloading" || e.status === "Pushing") && e.total ? ` ${bar(e.current ?? 0, e.total)}` : "";
  return `${e.id}: ${e.status}${detail}${b}`;
}

export interface Progress {
  event(e: ProgressEvent): void;
  /** A line that is not a layer's ("Digest: ...", "latest: Pulling from ..."). */
  line(s: string): void;
  done(): void;
}

export function progress(out: Writable & { isTTY?: boolean }, quiet: boolean): Progress {
  if (quiet) return { event: () => {}, line: () => {}, done: () => {} };
  if (!out.isTTY) {
    const last = new Map<string, string>();
    return {
      event(e) {
        if (e.status === "Downloading" || e.status === "Pushing") return;
        const s = formatEvent(e, false);
        if (last.get(e.id) === s) return;
        last.set(e.id, s);
        out.write(`${s}\n`);
      },
      line: (s) => out.write(`${s}\n`),
      done: () => {},
    };
  }
  // Terminal: a block of lines, one per layer, repainted with cursor-up and erase-line.
  const order: string[] = [];
  const text = new Map<string, string>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const paint = () => {
    timer = undefined;
    let s = drawn ? `\x1b[${drawn}A` : "";
    for (const id of order) s += `\x1b[2K${text.get(id) ?? ""}\n`;
    drawn = order.length;
    out.write(s);
  };
  const schedule = () => {
    timer ??= setTimeout(paint, 100);
  };
  return {
    event(e) {
      if (!text.has(e.id)) order.push(e.id);
      text.set(e.id, formatEvent(e, true));
      schedule();
    },
    line(s) {
      if (timer) clearTimeout(timer);
      paint();
      out.write(`${s}\n`);
      // Lines printed after the block are not part of it.
      order.length = 0;
      drawn = 0;
    },
    done() {
      if (timer) clearTimeout(timer);
      if (order.length) paint();
    },
  };
}
