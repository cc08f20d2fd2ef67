/** Where box keeps things: persistent state under BOX_ROOT, runtime state under BOX_RUN. */
import { join } from "node:path";

export interface BoxPaths {
  root: string;
  run: string;
}

export function boxPaths(env: NodeJS.ProcessEnv = process.env): BoxPaths {
  return { root: env.BOX_ROOT || "/var/lib/box", run: env.BOX_RUN || "/run/box" };
}

export function containerDir(p: BoxPaths, id: string): string {
  return join(p.root, "containers", id);
}

export function containerRunDir(p: BoxPaths, id: string): string {
  return join(p.run, "containers", id);
}

export function namesDir(p: BoxPaths): string {
  return join(p.root, "names");
}
