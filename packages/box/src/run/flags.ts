/**
 * `box run` flags, as Docker spells them. Parsing stops at the image, so the
 * command's own arguments pass through untouched.
 */
import { readFileSync } from "node:fs";
import { parseArgs, str, list, flag, ExitError, UsageError } from "@box/cli";
import { RESOURCE_SPEC, resourceOpts } from "./resources.js";
import { splitPath } from "@box/cgset";

export interface RunFlags {
  image: string;
  args: string[];
  rm: boolean;
  interactive: boolean;
  tty: boolean;
  detach: boolean;
  name?: string;
  hostname?: string;
  env: string[];
  workdir?: string;
  user?: string;
  volumes: string[];
  readOnly: boolean;
  tmpfs: string[];
  /** --network as given; "bridge" (Docker's default, box's box0) when absent. */
  network: string;
  publish: string[];
  publishAll: boolean;
  ip?: string;
  addHost: string[];
  dns: string[];
  networkAlias: string[];
  /** --expose: more ports for -P, with the image's EXPOSE. */
  expose: string[];
  entrypoint?: string;
  init: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  ulimits: string[];
  /** --pull: missing (Docker's default: pull an image that is not here), always, never. */
  pull: "missing" | "always" | "never";
  /** --cgroup-parent: relative to box's own cgroup, or from the hierarchy's root with a leading `/`. */
  cgroupParent?: string;
  /** --userns: "host" opts out of a remap; Docker accepts nothing else. */
  userns?: string;
  /** --userns-remap (dockerd's option, per run here): default, USER[:GROUP], UID[:GID]. */
  usernsRemap?: string;
  explain: boolean;
  help: boolean;
  restart: string;
  logDriver: string;
  logOpts: string[];
  stopSignal?: string;
  /** The resource flags as given (-m, --cpus...), for parseResourceFlags. */
  resources: Record<string, string | string[]>;
}

const SPEC = {
  boolean: ["rm", "interactive", "tty", "detach", "read-only", "init", "privileged", "explain", "help", "publish-all"],
  string: ["name", "hostname", "workdir", "user", "network", "net", "entrypoint", "restart", "log-driver", "stop-signal", "ip", "userns", "userns-remap", "cgroup-parent", "pull", ...RESOURCE_SPEC.string],
  multi: ["env", "env-file", "volume", "mount", "tmpfs", "cap-add", "cap-drop", "security-opt", "ulimit", "log-opt", "publish", "add-host", "dns", "network-alias", "expose", ...RESOURCE_SPEC.multi],
  alias: { ...RESOURCE_SPEC.alias, i: "interactive", t: "tty", d: "detach", e: "env", h: "hostname", w: "workdir", u: "user", v: "volume", p: "publish", P: "publish-all" },
  stopEarly: true,
};

/** KEY=VALUE lines of an --env-file; comments and blank lines skipped, as Docker. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ExitError(`open ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`, 125);
  }
  return text
    .split("\n")
    .map((l) => l.replace(/^\s+/, ""))
    .filter((l) => l && !l.startsWith("#"));
}

export function parseRunFlags(argv: string[], verb = "run"): RunFlags {
  const p = parseArgs(argv, SPEC);
  const help = flag(p, "help");
  const [image, ...args] = p.rest;
  if (!image && !help) throw new UsageError(`"box ${verb}" requires at least 1 argument`);
  const env = [...list(p, "env-file").flatMap(readEnvFile), ...list(p, "env")];
  const mounts = list(p, "mount").map(parseMountFlag).reduce((acc, m) => (m.tmpfs ? acc.tmpfs.push(m.tmpfs) : acc.volumes.push(m.volume!), acc), { volumes: [] as string[], tmpfs: [] as string[] });
  return {
    image: image ?? "",
    args,
    rm: flag(p, "rm"),
    interactive: flag(p, "interactive"),
    tty: flag(p, "tty"),
    detach: flag(p, "detach"),
    name: str(p, "name"),
    hostname: str(p, "hostname"),
    env,
    workdir: str(p, "workdir"),
    user: str(p, "user"),
    volumes: [...list(p, "volume"), ...mounts.volumes],
    readOnly: flag(p, "read-only"),
    tmpfs: [...list(p, "tmpfs"), ...mounts.tmpfs],
    network: str(p, "network") ?? str(p, "net") ?? "bridge",
    publish: list(p, "publish"),
    publishAll: flag(p, "publish-all"),
    ip: str(p, "ip"),
    addHost: list(p, "add-host"),
    dns: list(p, "dns"),
    networkAlias: list(p, "network-alias"),
    expose: list(p, "expose"),
    entrypoint: str(p, "entrypoint"),
    init: flag(p, "init"),
    privileged: flag(p, "privileged"),
    capAdd: list(p, "cap-add"),
    capDrop: list(p, "cap-drop"),
    securityOpt: list(p, "security-opt"),
    ulimits: list(p, "ulimit"),
    userns: str(p, "userns"),
    cgroupParent: cgroupParent(str(p, "cgroup-parent")),
    pull: pullPolicy(str(p, "pull")),
    usernsRemap: str(p, "userns-remap"),
    explain: flag(p, "explain"),
    help,
    restart: str(p, "restart") ?? "no",
    logDriver: str(p, "log-driver") ?? "json-file",
    logOpts: list(p, "log-opt"),
    stopSignal: str(p, "stop-signal"),
    resources: resourceOpts(p.opts) as Record<string, string | string[]>,
  };
}

/** --cgroup-parent, checked before anything is made: a path cgset takes, leaving no tree. */
function cgroupParent(v: string | undefined): string | undefined {
  if (v === undefined || v === "") return undefined;
  try {
    splitPath(v);
  } catch (e) {
    throw new ExitError(`invalid --cgroup-parent: ${(e as Error).message}`, 125);
  }
  return v;
}

/**
 * --mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,volume-nocopy][,tmpfs-size=N][,tmpfs-mode=M],
 * Docker's long form, as the -v or --tmpfs spec it means.
 */
export function parseMountFlag(spec: string): { volume?: string; tmpfs?: string } {
  const kv = new Map<string, string>();
  for (const field of spec.split(",")) {
    const i = field.indexOf("=");
    kv.set((i < 0 ? field : field.slice(0, i)).trim().toLowerCase(), i < 0 ? "true" : field.slice(i + 1));
  }
  const bad = (why: string) => new ExitError(`invalid argument "${spec}" for "--mount" flag: ${why}`, 125);
  const type = kv.get("type") ?? "volume";
  const target = kv.get("target") ?? kv.get("destination") ?? kv.get("dst");
  if (!target) throw bad("target is required");
  const source = kv.get("source") ?? kv.get("src");
  const ro = ["true", "1"].includes(kv.get("readonly") ?? kv.get("ro") ?? "false");
  for (const k of kv.keys()) {
    if (!["type", "target", "destination", "dst", "source", "src", "readonly", "ro", "volume-nocopy", "tmpfs-size", "tmpfs-mode", "bind-propagation", "consistency"].includes(k)) throw bad(`unexpected key '${k}' in '${k}=${kv.get(k)}'`);
  }
  switch (type) {
    case "bind":
      if (!source) throw bad("source is required when specifying volume-driver");
      return { volume: `${source}:${target}${ro ? ":ro" : ""}` };
    case "volume": {
      const opts = [...(ro ? ["ro"] : []), ...(kv.get("volume-nocopy") === "true" ? ["nocopy"] : [])];
      if (!source && opts.length) throw bad("an anonymous volume with options is not supported by box: name the volume");
      return { volume: `${source ? `${source}:` : ""}${target}${opts.length ? `:${opts.join(",")}` : ""}` };
    }
    case "tmpfs": {
      if (source) throw bad("source is not supported for tmpfs");
      const opts = [...(kv.has("tmpfs-size") ? [`size=${kv.get("tmpfs-size")}`] : []), ...(kv.has("tmpfs-mode") ? [`mode=${kv.get("tmpfs-mode")}`] : [])];
      return { tmpfs: `${target}${opts.length ? `:${opts.join(",")}` : ""}` };
    }
    default:
      throw bad(`mount type "${type}" is not supported (bind, volume, tmpfs)`);
  }
}

function pullPolicy(v: string | undefined): "missing" | "always" | "never" {
  if (v === undefined || v === "missing" || v === "always" || v === "never") return v ?? "missing";
  throw new ExitError(`invalid pull option: '${v}': must be one of "always", "missing" or "never"`, 125);
}
