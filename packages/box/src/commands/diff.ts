/**
 * `box diff CONTAINER`: what the container changed, from its overlay upper dir. A 0/0 character
 * device is a whiteout (D); anything else is C when a lower layer has the path, else A.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { flag, parseArgs, str, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { containerDir } from "../paths.js";
import { getContainer } from "../container/ops.js";
import { loadSpec } from "../container/state.js";

export const DIFF_HELP = `Usage:  box diff [OPTIONS] CONTAINER

Inspect changes to files or directories on a container's filesystem

Options:
      --format string   json: one {"Kind":0|1|2,"Path":...} per line
                        (0 changed, 1 added, 2 deleted, as Docker's API)
`;

export interface Change {
  kind: "A" | "C" | "D";
  path: string;
}

function isWhiteout(st: import("node:fs").Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Whether `rel` exists in the stack of lower dirs (top first): the topmost one that has it decides. */
function inLowers(lowers: string[], rel: string): boolean {
  for (const l of lowers) {
    let st;
    try {
      st = lstatSync(join(l, rel));
    } catch {
      continue;
    }
    return !isWhiteout(st);
  }
  return false;
}

/** Changes in `upper` over `lowers`, sorted by path as Docker prints them. */
export function changes(upper: string, lowers: string[]): Change[] {
  const out: Change[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(upper, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(upper, r));
      if (isWhiteout(st)) {
        out.push({ kind: "D", path: `/${r}` });
        continue;
      }
      out.push({ kind: inLowers(lowers, r) ? "C" : "A", path: `/${r}` });
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export async function diffCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"], string: ["format"] });
  if (flag(a, "help")) {
    process.stdout.write(DIFF_HELP);
    return 0;
  }
  if (a.rest.length !== 1) throw new UsageError(`"box diff" requires exactly 1 argument`);
  const c = getContainer(paths, a.rest[0] as string);
  const { layers } = loadSpec(paths, c.id);
  const list = changes(join(containerDir(paths, c.id), "upper"), layers);
  const json = str(a, "format") === "json";
  const kinds = { C: 0, A: 1, D: 2 } as const;
  for (const ch of list) process.stdout.write(json ? `${JSON.stringify({ Kind: kinds[ch.kind], Path: ch.path })}\n` : `${ch.kind} ${ch.path}\n`);
  return 0;
}
