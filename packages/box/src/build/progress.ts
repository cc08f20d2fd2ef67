/**
 * Build progress on stderr, as `docker build --progress plain` prints it (`#N name`, the
 * command's output as `#N 0.123 line`, `#N DONE 0.3s` or `#N CACHED`), or, on a terminal, the
 * compact view: one line per finished step (`=> CACHED [2/3] RUN ...`) and, below them, the
 * running step with its time ticking and the last lines of its output (`=> => # line`), redrawn
 * in place and replaced by the step's one line when it ends; a failing step's output is shown.
 */
export type ProgressMode = "plain" | "tty" | "quiet";

export interface Step {
  log(chunk: Buffer | string): void;
  done(detail?: string[]): void;
  cached(): void;
  error(message: string): void;
}

/** Output lines kept under the running step on a terminal (BuildKit shows 6). */
const TAIL = 6;
const REDRAW_MS = 100;

interface Live {
  name: string;
  t0: number;
  /** The last whole lines of output, and the line still being written. */
  tail: string[];
  partial: string;
}

export class Progress {
  private n = 0;
  private readonly started = performance.now();
  private finished = 0;
  private live: Live | undefined;
  /** Lines of the live block now on the screen. */
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly mode: ProgressMode,
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {
    if (mode === "tty") this.out.write("[+] Building\n");
  }

  step(name: string): Step {
    const id = ++this.n;
    const t0 = performance.now();
    const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
    const lines: string[] = [];
    let partial = "";
    const write = (s: string) => {
      if (this.mode === "plain") this.out.write(s);
    };
    write(`#${id} ${name}\n`);
    const live: Live = { name, t0, tail: [], partial: "" };
    if (this.mode === "tty") this.show(live);
    const flush = () => {
      if (partial !== "") {
        const l = `#${id} ${((performance.now() - t0) / 1000).toFixed(3)} ${partial}\n`;
        lines.push(l);
        write(l);
        partial = "";
      }
    };
    /** Replace the live block with `text` (tty). */
    const settle = (text: string) => {
      if (this.live === live) this.hide();
      this.out.write(text);
    };
    return {
      log: (chunk) => {
        const text = partial + chunk.toString();
        const parts = text.split("\n");
        partial = parts.pop() ?? "";
        for (const p of parts) {
          const l = `#${id} ${((performance.now() - t0) / 1000).toFixed(3)} ${p}\n`;
          lines.push(l);
          write(l);
        }
        if (this.mode === "tty") {
          live.tail = [...live.tail, ...parts].slice(-TAIL);
          live.partial = partial;
          this.redraw();
        }
      },
      done: (detail = []) => {
        flush();
        for (const d of detail) write(`#${id} ${d}\n`);
        write(`#${id} DONE ${secs()}s\n\n`);
        this.finished++;
        if (this.mode === "tty") settle(` => ${name}  ${secs()}s\n`);
      },
      cached: () => {
        write(`#${id} CACHED\n\n`);
        this.finished++;
        if (this.mode === "tty") settle(` => CACHED ${name}  0.0s\n`);
      },
      error: (message) => {
        flush();
        write(`#${id} ERROR: ${message}\n\n`);
        if (this.mode === "tty") settle([` => ERROR ${name}  ${secs()}s\n`, ...lines.slice(-20)].join(""));
      },
    };
  }

  end(ok: boolean): void {
    if (this.mode !== "tty") return;
    this.hide();
    this.out.write(`[+] Building ${((performance.now() - this.started) / 1000).toFixed(1)}s (${this.finished}/${this.n}) ${ok ? "FINISHED" : "ERROR"}\n`);
  }

  // ---- the live block (tty) ----------------------------------------------------------------------

  private show(live: Live): void {
    this.hide();
    this.live = live;
    this.draw();
    // Ticks the running step's time; unref'd so a forgotten step never holds the process.
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
  }

  private redraw(): void {
    if (this.live !== undefined) this.draw();
  }

  /** Erase the live block and stop its clock. */
  private hide(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
    this.live = undefined;
  }

  private erase(): void {
    // Up to the block's first line, then clear to the end of the screen.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    const live = this.live;
    if (live === undefined) return;
    // A line longer than the terminal wraps and would throw off the count of lines to erase.
    // (A terminal that does not tell its size, as script(1)'s, reports 0 columns.)
    const cols = ((this.out as { columns?: number }).columns || 80) - 1;
    const fit = (s: string, room = cols) => {
      const clean = s.replace(/\t/g, " ").replace(/\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x1f\x7f]/g, "");
      return clean.length > room ? clean.slice(0, Math.max(0, room)) : clean;
    };
    const secs = `  ${((performance.now() - live.t0) / 1000).toFixed(1)}s`;
    const tail = [...live.tail, ...(live.partial !== "" ? [live.partial] : [])].slice(-TAIL);
    const block = [`${fit(` => ${live.name}`, cols - secs.length)}${secs}`, ...tail.map((l) => fit(` => => # ${l}`))];
    this.erase();
    this.out.write(`${block.join("\n")}\n`);
    this.drawn = block.length;
  }
}
