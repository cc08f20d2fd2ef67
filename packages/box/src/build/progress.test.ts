import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Progress } from "./progress.js";

function capture(columns?: number): { out: PassThrough & { columns?: number }; text: () => string } {
  const out = new PassThrough() as PassThrough & { columns?: number };
  if (columns !== undefined) out.columns = columns;
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString() };
}

describe("Progress", () => {
  it("prints BuildKit's plain form", () => {
    const { out, text } = capture();
    const p = new Progress("plain", out);
    const s = p.step("[1/2] RUN echo a");
    s.log("a\nb");
    s.done();
    p.step("[2/2] COPY f /f").cached();
    p.end(true);
    expect(text()).toMatch(/^#1 \[1\/2\] RUN echo a\n#1 \d\.\d{3} a\n#1 \d\.\d{3} b\n#1 DONE \d\.\ds\n\n#2 \[2\/2\] COPY f \/f\n#2 CACHED\n\n$/);
  });

  it("on a terminal, redraws the running step with its last lines, then leaves one line", () => {
    const { out, text } = capture(40);
    const p = new Progress("tty", out);
    const s = p.step("[1/1] RUN a command with a long name that does not fit");
    for (let i = 1; i <= 8; i++) s.log(`line ${i}\n`);
    s.done();
    p.end(true);
    const t = text();
    // The live block: the step cut to the width with its time kept, and the last 6 lines.
    expect(t).toContain("\x1b[7F\x1b[J => [1/1] RUN a command with a lo  0.0s\n => => # line 3\n => => # line 4\n => => # line 5\n => => # line 6\n => => # line 7\n => => # line 8\n");
    expect(t.endsWith("\x1b[7F\x1b[J => [1/1] RUN a command with a long name that does not fit  0.0s\n[+] Building 0.0s (1/1) FINISHED\n")).toBe(true);
    // Live lines fit in 39 columns (a wrapped line would throw off the count to erase).
    const live = t.split("\n").filter((l) => l.includes("=> =>") || l.endsWith(" lo  0.0s"));
    expect(live.length).toBeGreaterThan(8);
    for (const l of live) expect(l.replace(/^\x1b\[\d+F\x1b\[J/, "").length).toBeLessThanOrEqual(39);
  });
});
