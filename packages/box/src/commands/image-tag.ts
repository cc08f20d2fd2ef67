/** `box tag SOURCE TARGET`: a further name for an image. */
import { ExitError, flag, parseArgs, UsageError } from "@box/cli";
import { InvalidReferenceError, normalizeTaggedName, Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";

export const TAG_HELP = `Usage:  box tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]

Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
`;

export async function tagCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"] });
  if (flag(a, "help")) {
    process.stdout.write(TAG_HELP);
    return 0;
  }
  if (a.rest.length !== 2) throw new UsageError(`"box tag" requires exactly 2 arguments`);
  const [source, target] = a.rest as [string, string];
  try {
    normalizeTaggedName(target);
  } catch (e) {
    if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
    throw e;
  }
  try {
    await new Store(paths.root).tagImage(source, target);
  } catch (e) {
    throw new ExitError("", 1, { cause: e });
  }
  return 0;
}
