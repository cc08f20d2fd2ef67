/** `box export CONTAINER [-o FILE]`: the container's filesystem (its merged overlay) as one tar. */
import { createWriteStream, openSync } from "node:fs";
import { once } from "node:events";
import { ExitError, flag, parseArgs, str } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { getContainer } from "../container/ops.js";
import { containerSource, tarSink, withRoot, type Entry } from "./cp.js";

export const EXPORT_HELP = `Usage:  box export [OPTIONS] CONTAINER

Export a container's filesystem as a tar archive

Options:
  -o, --output string   Write to a file, instead of STDOUT
`;

export async function exportCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"], string: ["output"], alias: { o: "output" } });
  if (flag(a, "help")) {
    process.stdout.write(EXPORT_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new ExitError(`"box export" requires exactly 1 argument`, 1);
  const output = str(a, "output");
  if (output === undefined && process.stdout.isTTY) throw new ExitError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1);
  const c = getContainer(p, a.rest[0]!);
  // Validate before creating the output file: a bad container leaves nothing behind.
  const out = output === undefined ? process.stdout : createWriteStream("", { fd: openSync(output, "w", 0o644) });
  try {
    await withRoot(p, c, "merged", async (r) => {
      const all = containerSource(r, "/", false, "");
      if (all === null) throw new ExitError(`container ${c.id.slice(0, 12)} has no root`, 1);
      await tarSink(withoutRoot(all.entries), out);
    });
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(`export ${a.rest[0]}`, 1, { cause: e });
  } finally {
    if (out !== process.stdout) {
      out.end();
      await once(out, "close");
    }
  }
  return 0;
}

function* withoutRoot(entries: Iterable<Entry>): Generator<Entry> {
  for (const e of entries) if (e.name !== "") yield e;
}

