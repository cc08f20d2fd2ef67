/** `box info [--format TEMPLATE]`: what this host gives box, in `docker info`'s names. */
import { readFileSync } from "node:fs";
import { arch, cpus, release, totalmem } from "node:os";
import { flag, parseArgs, str, UsageError } from "@box/cli";
import { detect } from "@box/cgset";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { listIds, liveState, loadRecord } from "../container/state.js";
import { renderTemplate } from "../template.js";
import { shiftedCopies } from "../run/rootmount.js";

export const INFO_HELP = `Usage:  box info [OPTIONS]

Display system-wide information

Options:
  -f, --format string   Format output using a Go template, or json
`;

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}

export async function infoCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"], string: ["format"], alias: { f: "format" } });
  if (flag(a, "help")) {
    process.stdout.write(INFO_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box info" accepts no arguments`);
  let running = 0;
  let paused = 0;
  let stopped = 0;
  for (const id of listIds(paths)) {
    try {
      const s = liveState(paths, id, loadRecord(paths, id));
      if (s.Paused) paused++;
      else if (s.Running) running++;
      else stopped++;
    } catch {
      stopped++; // dead: its box was killed before its record was written
    }
  }
  let version: number | undefined;
  try {
    version = detect().version;
  } catch {
    // no cgroup hierarchy mounted
  }
  const images = (await new Store(paths.root).list()).length;
  const remap = process.env.BOX_USERNS_REMAP;
  const info = {
    Containers: running + paused + stopped,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: stopped,
    Images: images,
    ServerVersion: "0.1.0",
    Driver: "overlay2",
    CgroupDriver: "cgroupfs",
    CgroupVersion: version !== undefined ? String(version) : "",
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSType: "linux",
    Architecture: arch() === "x64" ? "x86_64" : arch() === "arm64" ? "aarch64" : arch(),
    NCPU: cpus().length,
    MemTotal: totalmem(),
    DockerRootDir: paths.root,
    SecurityOptions: ["name=seccomp,profile=builtin", ...(remap ? [`name=userns`] : [])],
    Runtime: "ns-exec",
    IdmappedLayers: shiftedCopies() ? "copies (kernel before 5.19)" : "idmapped mounts",
  };
  const format = str(a, "format");
  if (format === "json" || format === "{{json .}}") {
    process.stdout.write(JSON.stringify(info) + "\n");
    return 0;
  }
  if (format !== undefined) {
    process.stdout.write(renderTemplate(format, info) + "\n");
    return 0;
  }
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)}GiB`;
  process.stdout.write(
    [
      `Containers: ${info.Containers}`,
      ` Running: ${running}`,
      ` Paused: ${paused}`,
      ` Stopped: ${stopped}`,
      `Images: ${images}`,
      `Server Version: ${info.ServerVersion}`,
      `Storage Driver: overlay2 (layers for a remapped root: ${info.IdmappedLayers})`,
      `Cgroup Driver: cgroupfs`,
      `Cgroup Version: ${info.CgroupVersion || "none"}`,
      `Runtime: ns-exec`,
      `Security Options:`,
      ...info.SecurityOptions.map((o) => ` ${o}`),
      `Kernel Version: ${info.KernelVersion}`,
      `Operating System: ${info.OperatingSystem}`,
      `OSType: linux`,
      `Architecture: ${info.Architecture}`,
      `CPUs: ${info.NCPU}`,
      `Total Memory: ${gib(info.MemTotal)}`,
      `Box Root Dir: ${paths.root}`,
      "",
    ].join("\n"),
  );
  return 0;
}
