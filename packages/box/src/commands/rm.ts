/** box rm [-f] CONTAINER...: remove containers, killing them first with -f. */
import { parseArgs, flag, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { resolveContainer } from "../container/lookup.js";
import { loadRecord, removeContainerDirs } from "../container/state.js";
import { livePid } from "../container/process.js";
import { releaseName } from "../container/names.js";
import { describeChain } from "@box/cli";

async function waitGone(p: BoxPaths, id: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (livePid(p, id) !== undefined) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export async function removeContainer(p: BoxPaths, id: string, force: boolean): Promise<void> {
  const pid = livePid(p, id);
  if (pid !== undefined) {
    if (!force) throw new Error(`cannot remove container "${id.slice(0, 12)}": container is running: stop the container before removing or force remove`);
    process.kill(pid, "SIGKILL");
    if (!(await waitGone(p, id, 10_000))) throw new Error(`container ${id.slice(0, 12)}: process ${pid} did not die after SIGKILL`);
  }
  let name: string | undefined;
  try {
    name = loadRecord(p, id).Name.replace(/^\//, "");
  } catch {
    // A record cut short by a crash: remove what is there.
  }
  removeContainerDirs(p, id);
  if (name) releaseName(p, name);
}

export async function rmCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force", "volumes"], alias: { f: "force", v: "volumes" } });
  if (a.rest.length === 0) throw new UsageError('"box rm" requires at least 1 argument');
  let code = 0;
  for (const ref of a.rest) {
    try {
      await removeContainer(p, resolveContainer(p, ref), flag(a, "force"));
      process.stdout.write(ref + "\n");
    } catch (e) {
      process.stderr.write(`box: Error response from daemon: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  return code;
}
