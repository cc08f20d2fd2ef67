import fs from "node:fs";
import path from "node:path";
import { UsageError, flag, parseArgs, str, type Tool } from "@box/cli";
import { mountOverlay, umountOverlay, type MountApi } from "./mount.js";
import { writeDiff } from "./diff.js";
import type { OverlaySpec } from "./validate.js";

export const HELP = `Usage:
 ovl-mount [--upper DIR --work DIR] [--ro] [--idmap USERNS] --target DIR LOWER...
 ovl-mount --spec FILE|-
 ovl-mount --umount DIR
 ovl-mount --diff UPPER [--mtime EPOCH]

Mount an overlayfs stack, unmount it, or write an upper directory to stdout
as an OCI layer tar.

LOWER directories go top first, as 'mkroot layers' prints them. A LOWER of
'-' reads more of them from stdin, one per line. Without --upper the mount is
read-only. After a mount the target path is printed on stdout.

Options:
     --target DIR     mount the merged tree at DIR
     --upper DIR      writable upper directory (needs --work)
     --work DIR       empty work directory on the file system of --upper
     --ro             mount read-only, even with --upper
     --idmap USERNS   mount the lower layers idmapped with the maps of the
                        user namespace file USERNS (/proc/PID/ns/user): a
                        file of uid 0 in a layer shows as the host uid that
                        0 maps to there (Linux 5.19+)
     --spec FILE      read the mount as JSON {"lower": [...], "upper",
                        "work", "target", "readonly", "idmap"} from FILE, or stdin if -
     --umount DIR     unmount the overlay at DIR
     --diff UPPER     write UPPER as an OCI layer tar to stdout
     --mtime EPOCH    with --diff, clamp mtimes to EPOCH seconds
                        (default: $SOURCE_DATE_EPOCH when set)
 -h, --help           display this help and exit

Environment:
 OVL_MOUNT_API=auto|new|legacy
                      the kernel interface to mount with (default auto:
                        fsconfig lowerdir+, else mount(2))
`;

const MODES = ["spec", "umount", "diff"] as const;

function readInput(file: string): string {
  try {
    return fs.readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`read ${file === "-" ? "stdin" : file}: ${e.code ?? e.message}`);
  }
}

function parseSpec(text: string, from: string): OverlaySpec {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--spec ${from}: not JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new UsageError(`--spec ${from}: not a JSON object`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["lower", "upper", "work", "target", "readonly", "idmap"].includes(k)) throw new UsageError(`--spec ${from}: unknown key '${k}'`);
  }
  if (!Array.isArray(o.lower) || o.lower.some((l) => typeof l !== "string")) {
    throw new UsageError(`--spec ${from}: lower must be a list of paths`);
  }
  for (const k of ["upper", "work", "target", "idmap"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "string") throw new UsageError(`--spec ${from}: ${k} must be a path`);
  }
  // validate() checks the rest, relative paths included.
  return o as unknown as OverlaySpec;
}

function epoch(what: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${what} '${v}': not a whole number of seconds`);
  return Number(v);
}

function mountApi(): MountApi {
  const v = process.env.OVL_MOUNT_API;
  if (v === undefined || v === "") return "auto";
  if (v === "auto" || v === "new" || v === "legacy") return v;
  throw new UsageError(`OVL_MOUNT_API='${v}': must be auto, new or legacy`);
}

async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    string: ["target", "upper", "work", "spec", "umount", "diff", "mtime", "idmap"],
    boolean: ["ro", "help"],
    alias: { h: "help" },
  });
  if (flag(p, "help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const modes = MODES.filter((m) => p.opts[m] !== undefined);
  if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} cannot be used together`);
  const mode = modes[0] ?? "mount";
  const allowed: Record<typeof mode, string[]> = {
    mount: ["target", "upper", "work", "ro", "idmap"],
    spec: ["spec"],
    umount: ["umount"],
    diff: ["diff", "mtime"],
  };
  for (const [k, v] of Object.entries(p.opts)) {
    if (v === undefined || v === false || k === "help" || k === "h") continue;
    if (!allowed[mode].includes(k)) {
      throw new UsageError(mode === "mount" ? `--${k} needs --diff` : `--${k} cannot be used with --${mode}`);
    }
  }
  if (mode !== "mount" && p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]}'`);

  switch (mode) {
    case "umount": {
      const dir = str(p, "umount") ?? "";
      if (!dir) throw new UsageError("--umount needs a directory");
      umountOverlay(path.resolve(dir));
      return 0;
    }
    case "diff": {
      const upper = str(p, "diff") ?? "";
      if (!upper) throw new UsageError("--diff needs a directory");
      const m = str(p, "mtime");
      const sde = process.env.SOURCE_DATE_EPOCH;
      const mtime = m !== undefined ? epoch("--mtime", m) : sde ? epoch("SOURCE_DATE_EPOCH", sde) : undefined;
      if (process.stdout.isTTY) throw new UsageError("refusing to write a tar archive to a terminal; redirect stdout");
      await writeDiff(path.resolve(upper), process.stdout, { mtime });
      return 0;
    }
    case "spec": {
      const file = str(p, "spec") ?? "";
      if (!file) throw new UsageError("--spec needs a file, or - for stdin");
      const spec = parseSpec(readInput(file), file === "-" ? "stdin" : file);
      mountOverlay(spec, { api: mountApi() });
      process.stdout.write(spec.target + "\n");
      return 0;
    }
    case "mount": {
      const target = str(p, "target");
      if (target === undefined || target === "") throw new UsageError("missing --target");
      const lower: string[] = [];
      let stdinUsed = false;
      for (const a of p.rest) {
        if (a !== "-") {
          lower.push(a);
          continue;
        }
        if (stdinUsed) throw new UsageError("'-' (lowers from stdin) given twice");
        stdinUsed = true;
        lower.push(...readInput("-").split("\n").filter((l) => l !== ""));
      }
      if (lower.length === 0) throw new UsageError(stdinUsed ? "no LOWER directory on stdin" : "missing LOWER directory");
      // Relative operands are taken from the cwd, as mount(8) does; the
      // library itself insists on absolute paths.
      const abs = (v: string | undefined): string | undefined => (v === undefined || v === "" ? v : path.resolve(v));
      const spec: OverlaySpec = {
        lower: lower.map((l) => path.resolve(l)),
        target: path.resolve(target),
        upper: abs(str(p, "upper")),
        work: abs(str(p, "work")),
      };
      if (spec.upper === undefined) delete spec.upper;
      if (spec.work === undefined) delete spec.work;
      if (flag(p, "ro")) spec.readonly = true;
      const idmap = abs(str(p, "idmap"));
      if (idmap !== undefined) spec.idmap = idmap;
      mountOverlay(spec, { api: mountApi() });
      process.stdout.write(spec.target + "\n");
      return 0;
    }
  }
}

export const ovlMount: Tool = { name: "ovl-mount", run };
