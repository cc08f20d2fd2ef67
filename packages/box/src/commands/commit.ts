/** `box commit CONTAINER [REPO[:TAG]]`: the container's upper dir as a new layer on its image. */
import { join } from "node:path";
import { ExitError, flag, list, parseArgs, str, UsageError } from "@box/cli";
import { InvalidReferenceError, normalizeTaggedName, Store, type ImageConfig } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { containerDir } from "../paths.js";
import { getContainer } from "../container/ops.js";
import { loadSpec } from "../container/state.js";
import { sourceDateEpoch, storeUpper } from "../build/layer.js";

export const COMMIT_HELP = `Usage:  box commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]

Create a new image from a container's changes

Options:
  -a, --author string    Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
  -c, --change list      Apply Dockerfile instruction to the created image
  -m, --message string   Commit message
  -p, --pause            Accepted for Docker compatibility; box does not
                         pause the container while its changes are read
`;

/** Variables the runtime adds, which Docker keeps out of a committed config. */
const RUNTIME_ENV = /^(HOSTNAME|TERM)=/;

export async function commitCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help", "pause"], string: ["author", "message"], multi: ["change"], alias: { a: "author", c: "change", m: "message", p: "pause" } });
  if (flag(a, "help")) {
    process.stdout.write(COMMIT_HELP);
    return 0;
  }
  if (a.rest.length < 1 || a.rest.length > 2) throw new UsageError(`"box commit" requires at least 1 and at most 2 arguments`);
  const [ref, name] = a.rest as [string, string | undefined];
  if (name !== undefined) {
    try {
      normalizeTaggedName(name);
    } catch (e) {
      if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
      throw e;
    }
  }
  const c = getContainer(paths, ref);
  const store = new Store(paths.root);
  let image;
  try {
    const parent = await store.get(c.rec.Image);
    // Docker's commit: the container's own settings over the image's.
    const cfg: ImageConfig = { ...parent.config.config };
    const env = c.rec.Config.Env.filter((e) => !RUNTIME_ENV.test(e));
    if (env.length) cfg.Env = env;
    if (c.rec.Config.Cmd !== null) cfg.Cmd = c.rec.Config.Cmd;
    if (c.rec.Config.Entrypoint !== null) cfg.Entrypoint = c.rec.Config.Entrypoint;
    if (c.rec.Config.User) cfg.User = c.rec.Config.User;
    if (c.rec.Config.WorkingDir) cfg.WorkingDir = c.rec.Config.WorkingDir;
    const upper = join(containerDir(paths, c.id), "upper");
    // A remapped container's files carry host ids: the image gets the container's.
    const { options: o } = loadSpec(paths, c.id);
    const idmap = o.unshare.user ? { uid: o.uidMap, gid: o.gidMap.length ? o.gidMap : o.uidMap } : undefined;
    const layer = await storeUpper(store, upper, sourceDateEpoch(), idmap);
    const author = str(a, "author");
    const message = str(a, "message");
    image = await store.commit({
      parent: parent.id,
      layers: [{ diffId: layer.diffId, createdBy: [c.rec.Path, ...c.rec.Args].join(" "), ...(message !== undefined ? { comment: message } : {}) }],
      config: cfg,
      changes: list(a, "change"),
      tags: name !== undefined ? [name] : [],
      ...(author !== undefined ? { author } : {}),
    });
  } catch (e) {
    throw new ExitError(`commit ${ref}`, 1, { cause: e });
  }
  process.stdout.write(`${image.id}\n`);
  return 0;
}
