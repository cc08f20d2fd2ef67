/** `box pull`, and `ensureImage` for `box run` of an image that is not here yet (as Docker). */
import type { Writable } from "node:stream";
import { ExitError, flag, list, parseArgs, str, UsageError } from "@box/cli";
import { InvalidReferenceError, NoSuchImageError, parseReference, Store, type Image, type PullResult } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { progress } from "./image-progress.js";

export const PULL_HELP = `Usage:  box pull [OPTIONS] NAME[:TAG|@DIGEST]

Download an image from a registry

Options:
  -a, --all-tags                  (not supported)
      --insecure-registry list    Allow plain HTTP or unverified TLS for a
                                  registry (127.0.0.0/8 always is; also
                                  $BOX_INSECURE_REGISTRIES)
      --platform string           Set platform if server is multi-platform
                                  capable (OS/ARCH[/VARIANT])
  -q, --quiet                     Suppress verbose output

NAME without a registry host is on Docker Hub: alpine is
docker.io/library/alpine:latest. Credentials come from 'box login'
(~/.config/box/config.json or $BOX_CONFIG) or ~/.docker/config.json.
`;

export function checkReference(ref: string): void {
  try {
    parseReference(ref);
  } catch (e) {
    if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
    throw e;
  }
}

/** Pull with Docker's lines on `out` (progress per layer, Digest:, Status:). */
export async function pullWithProgress(
  paths: BoxPaths,
  ref: string,
  out: Writable & { isTTY?: boolean },
  opts: { quiet?: boolean; platform?: string; insecure?: string[] } = {},
): Promise<PullResult> {
  const parsed = parseReference(ref);
  const p = progress(out, opts.quiet ?? false);
  if (parsed.tag === undefined && parsed.digest === undefined) p.line("Using default tag: latest");
  try {
    const r = await new Store(paths.root).pull(ref, {
      insecureRegistries: opts.insecure ?? [],
      ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
      onProgress: (e) => p.event(e),
      onStatus: (s) => p.line(s),
    });
    p.done();
    p.line(`Digest: ${r.digest}`);
    const shown = r.name ?? ref;
    p.line(r.updated ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`);
    return r;
  } catch (e) {
    p.done();
    throw new ExitError("", 1, { cause: e });
  }
}

export async function pullCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["quiet", "help", "all-tags"], string: ["platform"], multi: ["insecure-registry"], alias: { q: "quiet", a: "all-tags" } });
  if (flag(a, "help")) {
    process.stdout.write(PULL_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new UsageError(`"box pull" requires exactly 1 argument`);
  if (flag(a, "all-tags")) throw new UsageError("--all-tags is not supported");
  const ref = a.rest[0] as string;
  checkReference(ref);
  const platform = str(a, "platform");
  const r = await pullWithProgress(paths, ref, process.stderr, {
    quiet: flag(a, "quiet"),
    insecure: list(a, "insecure-registry"),
    ...(platform !== undefined ? { platform } : {}),
  });
  process.stdout.write(`${r.canonical}\n`);
  return 0;
}

/**
 * The image `ref` names, pulled first if it is not in the store (Docker's "Unable to find image
 * 'x:latest' locally"). For `box run`; progress and status lines go to `out` (stderr).
 */
export async function ensureImage(paths: BoxPaths, ref: string, out: Writable & { isTTY?: boolean }): Promise<Image> {
  const store = new Store(paths.root);
  try {
    return await store.get(ref);
  } catch (e) {
    if (!(e instanceof NoSuchImageError)) throw e;
    let parsed;
    try {
      parsed = parseReference(ref);
    } catch {
      throw e; // an ID or ID prefix: nothing to pull
    }
    const shown = parsed.digest === undefined && parsed.tag === undefined ? `${ref}:latest` : ref;
    out.write(`Unable to find image '${shown}' locally\n`);
    const r = await pullWithProgress(paths, ref, out);
    return r.image;
  }
}
