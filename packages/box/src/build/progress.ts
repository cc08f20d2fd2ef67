/**
 * Build progress on stderr, as `docker build --progress plain` prints it (`#N name`, the
 * command's output as `#N 0.123 line`, `#N DONE 0.3s` or `#N CACHED`), or, on a terminal, one
 * line per finished step (`=> CACHED [2/3] RUN ...`), with a failing step's output shown.
 */
export type ProgressMode = "plain" | "tty" | "quiet";

export interface Step {
  log(chunk: Buffer | string): void;
  done(detail?: string[]): void;
  cached(): void;
  error(message: string): void;
}

export class Progress {
  private n = 0;
  private readonly started = performance.now();
  private finished = 0;

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
    const flush = () => {
      if (partial !== "") {
        const l = `#${id} ${((performance.now() - t0) / 1000).toFixed(3)} ${partial}\n`;
        lines.push(l);
        write(l);
        partial = "";
      }
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
      },
      done: (detail = []) => {
        flush();
        for (const d of detail) write(`#${id} ${d}\n`);
        write(`#${id} DONE ${secs()}s\n\n`);
        this.finished++;
        if (this.mode === "tty") this.out.write(` => ${name}  ${secs()}s\n`);
      },
      cached: () => {
        write(`#${id} CACHED\n\n`);
        this.finished++;
        if (this.mode === "tty") this.out.write(` => CACHED ${name}  0.0s\n`);
      },
      error: (message) => {
        flush();
        write(`#${id} ERROR: ${message}\n\n`);
        if (this.mode === "tty") {
          this.out.write(` => ERROR ${name}  ${secs()}s\n`);
          for (const l of lines.slice(-20)) this.out.write(l);
        }
      },
    };
  }

  end(ok: boolean): void {
    if (this.mode === "tty") this.out.write(`[+] Building ${((performance.now() - this.started) / 1000).toFixed(1)}s (${this.finished}/${this.n}) ${ok ? "FINISHED" : "ERROR"}\n`);
  }
}
