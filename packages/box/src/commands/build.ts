/** `box build` (see build/builder.ts) and `box builder prune`. */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ExitError, flag, list, parseArgs, str, UsageError } from "@box/cli";
import { InvalidReferenceError, normalizeTaggedName, Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { humanSize } from "../format.js";
import { Builder } from "../build/builder.js";
import type { ProgressMode } from "../build/progress.js";

export const BUILD_HELP = `Usage:  box build [OPTIONS] PATH

Build an image from a Dockerfile

Options:
      --build-arg list      Set build-time variables
  -f, --file string         Name of the Dockerfile (default: "PATH/Dockerfile")
      --network string      Networking mode for the RUN instructions during
                            build: none (the default) or host
      --no-cache            Do not use cache when building the image
      --progress string     Set type of progress output (auto, plain, tty)
                            (default "auto": tty on a terminal, else plain)
      --pull                Always attempt to pull a newer version of the image
  -q, --quiet               Suppress the build output and print image ID on success
  -t, --tag list            Name and optionally a tag in the "name:tag" format
      --target string       Set the target build stage to build

Environment:
  SOURCE_DATE_EPOCH   clamp file times and set every created time to it:
                      the same Dockerfile and context give the same image
`;

export const BUILDER_HELP = `Usage:  box builder prune [OPTIONS]

Remove build cache

Options:
  -a, --all     Remove all unused build cache, not just dangling ones
  -f, --force   Do not prompt for confirmation
`;

export async function buildCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {
    boolean: ["help", "no-cache", "pull", "quiet"],
    string: ["file", "network", "progress", "target"],
    multi: ["tag", "build-arg"],
    alias: { f: "file", q: "quiet", t: "tag" },
  });
  if (flag(a, "help")) {
    process.stdout.write(BUILD_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new UsageError(`"box build" requires exactly 1 argument`);
  const tags = list(a, "tag");
  for (const t of tags) {
    try {
      normalizeTaggedName(t);
    } catch (e) {
      if (e instanceof InvalidReferenceError) throw new UsageError(`invalid argument "${t}" for "-t, --tag" flag: ${e.message}`);
      throw e;
    }
  }
  const buildArgs = new Map<string, string>();
  for (const b of list(a, "build-arg")) {
    const eq = b.indexOf("=");
    // --build-arg NAME alone takes the value from box's own environment, as Docker.
    if (eq < 0) {
      const v = process.env[b];
      if (v !== undefined) buildArgs.set(b, v);
    } else buildArgs.set(b.slice(0, eq), b.slice(eq + 1));
  }
  const network = str(a, "network") ?? "none";
  if (network !== "none" && network !== "host" && network !== "default") throw new UsageError(`--network ${network}: box build supports none and host`);
  const progressFlag = str(a, "progress") ?? "auto";
  if (!["auto", "plain", "tty"].includes(progressFlag)) throw new UsageError(`--progress ${progressFlag}: expected auto, plain or tty`);
  const quiet = flag(a, "quiet");
  const progress: ProgressMode = quiet ? "quiet" : progressFlag === "auto" ? (process.stderr.isTTY ? "tty" : "plain") : (progressFlag as ProgressMode);
  const file = str(a, "file");
  const target = str(a, "target");
  const builder = new Builder(paths.root, {
    context: a.rest[0] as string,
    ...(file !== undefined ? { file } : {}),
    ...(target !== undefined ? { target } : {}),
    tags,
    buildArgs,
    noCache: flag(a, "no-cache"),
    pull: flag(a, "pull"),
    progress,
    network: network === "host" ? "host" : "none",
  });
  const id = await builder.build();
  if (quiet) process.stdout.write(`${id}\n`);
  return 0;
}

export async function builderCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    process.stdout.write(BUILDER_HELP);
    return 0;
  }
  if (sub !== "prune") throw new UsageError(`unknown builder command: ${sub}`);
  const a = parseArgs(rest, { boolean: ["help", "all", "force"], alias: { a: "all", f: "force" } });
  if (flag(a, "help")) {
    process.stdout.write(BUILDER_HELP);
    return 0;
  }
  const r = await pruneBuildCache(paths);
  for (const d of r.removed) process.stdout.write(`Deleted: ${d}\n`);
  process.stderr.write(`Removed ${r.entries} cache records\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  return 0;
}

/** The build cache's records, its RUN cache mounts and the layers no image uses (builder prune, system prune). */
export async function pruneBuildCache(paths: BoxPaths): Promise<{ removed: string[]; entries: number; reclaimed: number }> {
  const cacheDir = join(paths.root, "builder", "cache");
  let entries = 0;
  try {
    // Step records, plus each RUN --mount=type=cache directory (under mounts/).
    const names = readdirSync(cacheDir);
    entries = names.filter((n) => n !== "mounts").length;
    if (names.includes("mounts")) entries += readdirSync(join(cacheDir, "mounts")).filter((n) => !n.endsWith(".lock")).length;
  } catch {
    // no cache yet
  }
  rmSync(cacheDir, { recursive: true, force: true });
  try {
    return { ...(await new Store(paths.root).pruneLayers()), entries };
  } catch (e) {
    throw new ExitError("builder prune", 1, { cause: e });
  }
}
