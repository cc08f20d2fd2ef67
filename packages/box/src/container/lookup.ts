/** Find a container by full id, unique id prefix, or name, as Docker does. */
import { ExitError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { listIds } from "./state.js";
import { lookupName } from "./names.js";

export class NoSuchContainerError extends ExitError {
  constructor(ref: string) {
    super(`No such container: ${ref}`, 1);
  }
}

export function resolveContainer(p: BoxPaths, ref: string): string {
  const ids = listIds(p);
  if (ids.includes(ref)) return ref;
  const byName = lookupName(p, ref.replace(/^\//, ""));
  if (byName && ids.includes(byName)) return byName;
  if (/^[0-9a-f]+$/.test(ref)) {
    const matches = ids.filter((id) => id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new ExitError(`multiple containers found with provided prefix: ${ref}`, 1);
  }
  throw new NoSuchContainerError(ref);
}
