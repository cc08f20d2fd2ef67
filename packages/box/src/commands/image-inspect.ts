/** `box image inspect IMAGE...`: Docker's image JSON (an array), or a --format template per image. */
import { ExitError, flag, parseArgs, str, UsageError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { renderTemplate } from "../template.js";

export const IMAGE_INSPECT_HELP = `Usage:  box image inspect [OPTIONS] IMAGE [IMAGE...]

Display detailed information on one or more images

Options:
  -f, --format string   Format output using a Go template ({{.Id}}, {{json .Config}}...)
`;

export async function imageInspectObject(store: Store, ref: string): Promise<Record<string, unknown>> {
  const img = await store.get(ref);
  const m = await store.manifestOf(img.id);
  const c = m.config as typeof m.config & { author?: string; variant?: string };
  const history = c.history ?? [];
  return {
    Id: img.id,
    RepoTags: img.names,
    RepoDigests: img.repoDigests,
    Parent: "",
    Comment: history[history.length - 1]?.comment ?? "",
    Created: c.created ?? "",
    DockerVersion: "",
    Author: c.author ?? "",
    Config: c.config ?? {},
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: m.sizes.reduce((a, b) => a + b, 0),
    GraphDriver: { Name: "overlay", Data: { LowerDir: img.layers.join(":") } },
    RootFS: { Type: "layers", Layers: c.rootfs.diff_ids },
    Descriptor: { mediaType: m.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json", digest: img.digest },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
  };
}

export async function imageInspectCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"], string: ["format"], alias: { f: "format" } });
  if (flag(a, "help")) {
    process.stdout.write(IMAGE_INSPECT_HELP);
    return 0;
  }
  if (a.rest.length === 0) throw new UsageError(`"box image inspect" requires at least 1 argument`);
  const store = new Store(paths.root);
  const out: Array<Record<string, unknown>> = [];
  const errors: string[] = [];
  for (const ref of a.rest) {
    try {
      out.push(await imageInspectObject(store, ref));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const format = str(a, "format");
  if (format !== undefined) for (const o of out) process.stdout.write(`${renderTemplate(format, o)}\n`);
  else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
  if (errors.length) throw new ExitError(errors.map((e) => `Error: ${e}`).join("\n"), 1);
  return 0;
}
