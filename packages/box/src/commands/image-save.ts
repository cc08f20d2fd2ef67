/** `box save` and `box load`: one tar that is both an OCI image layout and a docker-archive. */
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { ExitError, flag, parseArgs, str, UsageError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";

export const SAVE_HELP = `Usage:  box save [OPTIONS] IMAGE [IMAGE...]

Save one or more images to a tar archive (streamed to STDOUT by default)

Options:
  -o, --output string   Write to a file, instead of STDOUT

The tar is an OCI image layout (oci-layout, index.json, blobs/sha256/) and a
docker-archive (manifest.json) at once, as Docker 25 writes it: docker load,
podman load and skopeo (oci-archive:, docker-archive:) all read it.
`;

export const LOAD_HELP = `Usage:  box load [OPTIONS]

Load an image from a tar archive or STDIN

Options:
  -i, --input string   Read from tar archive file, instead of STDIN
  -q, --quiet          Suppress the load output

Reads docker-archive tars (docker save, podman save) and OCI image layouts
(box save, skopeo copy oci-archive:).
`;

export async function saveCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"], string: ["output"], alias: { o: "output" } });
  if (flag(a, "help")) {
    process.stdout.write(SAVE_HELP);
    return 0;
  }
  if (a.rest.length === 0) throw new UsageError(`"box save" requires at least 1 argument`);
  const output = str(a, "output");
  if (output === undefined && process.stdout.isTTY) throw new UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  const store = new Store(paths.root);
  try {
    if (output === undefined) {
      await store.save(a.rest, process.stdout);
    } else {
      // Written beside the target and renamed: a failed save leaves no half tar under its name.
      const tmp = `${output}.box-${process.pid}.tmp`;
      try {
        await store.save(a.rest, createWriteStream(tmp, { mode: 0o644 }));
        await rename(tmp, output);
      } finally {
        await rm(tmp, { force: true });
      }
    }
  } catch (e) {
    throw new ExitError("save", 1, { cause: e });
  }
  return 0;
}

export async function loadCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help", "quiet"], string: ["input"], alias: { i: "input", q: "quiet" } });
  if (flag(a, "help")) {
    process.stdout.write(LOAD_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box load" accepts no arguments`);
  const input = str(a, "input");
  if (input === undefined && process.stdin.isTTY) throw new UsageError("requested load from stdin, but stdin is empty");
  let r;
  try {
    r = await new Store(paths.root).load(input === undefined ? process.stdin : createReadStream(input));
  } catch (e) {
    throw new ExitError("", 1, { cause: e });
  }
  if (!flag(a, "quiet")) for (const l of r.lines) process.stdout.write(`${l}\n`);
  return 0;
}
