/** `box volume create|ls|inspect|rm|prune`: Docker's local volumes (container/volumes.ts). */
import { ExitError, flag, parseArgs, str, UsageError } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { ANONYMOUS, createVolume, inspectVolume, listVolumes, removeVolume, usersOf, validateVolumeName } from "../container/volumes.js";
import { humanSize, table } from "../format.js";
import { treeSize } from "../container/size.js";
import { renderTemplate } from "../template.js";
import { confirmRemoval } from "../prompt.js";

export const VOLUME_HELP = `Usage:  box volume COMMAND

Manage volumes

Commands:
  create      Create a volume
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove unused local volumes (anonymous ones; with -a all)
  rm          Remove one or more volumes

Run 'box volume COMMAND --help' for more information on a command.
`;

export async function volumeCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(VOLUME_HELP);
      return 0;
    case "create": {
      const a = parseArgs(rest, { string: ["driver", "name"], alias: { d: "driver" } });
      const driver = str(a, "driver") ?? "local";
      if (driver !== "local") throw new ExitError(`create: volume driver "${driver}" is not supported: box has the local driver only`, 1);
      if (a.rest.length > 1) throw new UsageError(`"box volume create" requires at most 1 argument`);
      const name = a.rest[0] ?? str(a, "name");
      if (name !== undefined) validateVolumeName(name);
      process.stdout.write(createVolume(p, name).name + "\n");
      return 0;
    }
    case "ls":
    case "list": {
      const a = parseArgs(rest, { boolean: ["quiet"], string: ["format"], alias: { q: "quiet" } });
      const vols = listVolumes(p).sort((x, y) => x.Name.localeCompare(y.Name));
      if (flag(a, "quiet")) {
        process.stdout.write(vols.map((v) => `${v.Name}\n`).join(""));
        return 0;
      }
      const format = str(a, "format");
      if (format !== undefined) {
        const row = (v: (typeof vols)[number]) => (format === "json" || format === "{{json .}}" ? JSON.stringify({ Driver: v.Driver, Name: v.Name, Mountpoint: v.Mountpoint, Scope: v.Scope }) : renderTemplate(format, v));
        process.stdout.write(vols.map((v) => row(v) + "\n").join(""));
        return 0;
      }
      process.stdout.write(table([["DRIVER", "VOLUME NAME"], ...vols.map((v) => [v.Driver, v.Name])]));
      return 0;
    }
    case "inspect": {
      const a = parseArgs(rest, { string: ["format"], alias: { f: "format" } });
      if (a.rest.length === 0) throw new UsageError(`"box volume inspect" requires at least 1 argument`);
      const found = [];
      let failed = false;
      for (const n of a.rest) {
        const v = inspectVolume(p, n);
        if (v) found.push(v);
        else {
          process.stderr.write(`box: get ${n}: no such volume\n`);
          failed = true;
        }
      }
      const format = str(a, "format");
      if (format !== undefined) process.stdout.write(found.map((v) => renderTemplate(format, v) + "\n").join(""));
      else process.stdout.write(JSON.stringify(found, null, 4) + "\n");
      return failed ? 1 : 0;
    }
    case "rm":
    case "remove": {
      const a = parseArgs(rest, { boolean: ["force"], alias: { f: "force" } });
      if (a.rest.length === 0) throw new UsageError(`"box volume rm" requires at least 1 argument`);
      let failed = false;
      for (const n of a.rest) {
        try {
          removeVolume(p, n, flag(a, "force"));
          process.stdout.write(`${n}\n`);
        } catch (e) {
          process.stderr.write(`box: ${(e as Error).message}\n`);
          failed = true;
        }
      }
      return failed ? 1 : 0;
    }
    case "prune": {
      const a = parseArgs(rest, { boolean: ["all", "force"], alias: { a: "all", f: "force" } });
      const all = flag(a, "all");
      if (!flag(a, "force") && !(await confirmRemoval(all ? "all local volumes not used by at least one container" : "anonymous local volumes not used by at least one container"))) return 0;
      const { gone, reclaimed } = pruneVolumes(p, all);
      if (gone.length) process.stdout.write(`Deleted Volumes:\n${gone.map((n) => `${n}\n`).join("")}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
      return 0;
    }
    default:
      if (sub.startsWith("-")) throw new UsageError(`unknown flag: ${sub}`);
      throw new ExitError(`'box volume ${sub}' is not a box command.\nSee 'box volume --help'`, 125);
  }
}

/** Remove the volumes no container names: anonymous ones, or with `all` every one (volume prune, system prune --volumes). */
export function pruneVolumes(p: BoxPaths, all: boolean): { gone: string[]; reclaimed: number } {
  const gone: string[] = [];
  let reclaimed = 0;
  for (const v of listVolumes(p)) {
    if (!all && v.Labels[ANONYMOUS] === undefined) continue;
    if (usersOf(p, v.Name).length) continue;
    reclaimed += treeSize(v.Mountpoint);
    removeVolume(p, v.Name);
    gone.push(v.Name);
  }
  return { gone, reclaimed };
}
