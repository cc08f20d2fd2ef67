/** `box push`: send an image to its registry, with Docker's lines. */
import { ExitError, flag, list, parseArgs, UsageError } from "@box/cli";
import { parseReference, Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { checkReference } from "./image-pull.js";
import { progress } from "./image-progress.js";

export const PUSH_HELP = `Usage:  box push [OPTIONS] NAME[:TAG]

Upload an image to a registry

Options:
      --insecure-registry list    Allow plain HTTP or unverified TLS for a
                                  registry (127.0.0.0/8 always is)
  -q, --quiet                     Suppress verbose output

Layers the registry already has are skipped; layers of another repository on
the same registry are mounted rather than uploaded.
`;

export async function pushCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["quiet", "help"], multi: ["insecure-registry"], alias: { q: "quiet" } });
  if (flag(a, "help")) {
    process.stdout.write(PUSH_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new UsageError(`"box push" requires exactly 1 argument`);
  const ref = a.rest[0] as string;
  checkReference(ref);
  if (parseReference(ref).digest !== undefined) throw new UsageError("cannot push to a digest reference; give NAME[:TAG]");
  const p = progress(process.stderr, flag(a, "quiet"));
  try {
    const r = await new Store(paths.root).push(ref, {
      insecureRegistries: list(a, "insecure-registry"),
      onProgress: (e) => p.event(e),
      onStatus: (s) => p.line(s),
    });
    p.done();
    p.line(`${r.tag}: digest: ${r.digest} size: ${r.size}`);
    process.stdout.write(`${r.digest}\n`);
    return 0;
  } catch (e) {
    p.done();
    throw new ExitError("", 1, { cause: e });
  }
}
