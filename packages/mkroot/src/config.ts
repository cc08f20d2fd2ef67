/**
 * The image config (OCI image-spec config.md, the same shape Docker writes) and the
 * `docker import --change` instructions that fill it in.
 */
import { posix } from "node:path";
import { constants } from "node:os";

export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Volumes?: Record<string, object>;
  /** Docker's extensions, kept as `docker build` writes them. */
  Healthcheck?: HealthConfig;
  OnBuild?: string[];
  Shell?: string[];
}

/** HEALTHCHECK as Docker stores it: durations in nanoseconds. `Test: ["NONE"]` disables the parent's. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface OciImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config: ImageConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

export class InvalidChangeError extends Error {
  constructor(change: string, reason: string) {
    super(`--change ${JSON.stringify(change)}: ${reason}`);
    this.name = "InvalidChangeError";
  }
}

/** What `docker import --change` accepts, less HEALTHCHECK and ONBUILD (not kept by this store yet). */
export const CHANGE_INSTRUCTIONS = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"] as const;
type Instruction = (typeof CHANGE_INSTRUCTIONS)[number];

/** Go's GOARCH for Node's process.arch: the spelling image configs use. */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };
  return map[arch] ?? arch;
}

/**
 * Apply `--change` instructions to `base`, returning a new config in canonical key order.
 * Pure: it throws InvalidChangeError on the first bad instruction and touches nothing.
 */
export function applyChanges(base: ImageConfig, changes: readonly string[]): ImageConfig {
  let c: ImageConfig = structuredClone(base);
  for (const change of changes) c = applyChange(c, change);
  return canonicalConfig(c);
}

function applyChange(c: ImageConfig, change: string): ImageConfig {
  const trimmed = change.trim();
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!m) throw new InvalidChangeError(change, "empty instruction");
  const word = (m[1] ?? "").toUpperCase();
  const rest = (m[2] ?? "").trim();
  if (!(CHANGE_INSTRUCTIONS as readonly string[]).includes(word)) {
    const why = word === "HEALTHCHECK" || word === "ONBUILD" ? "is not supported by mkroot" : "is not a valid change instruction";
    throw new InvalidChangeError(change, `${m[1]} ${why} (valid: ${CHANGE_INSTRUCTIONS.join(", ")})`);
  }
  const ins = word as Instruction;
  if (rest === "") throw new InvalidChangeError(change, `${ins} requires at least one argument`);
  const fail = (reason: string): never => {
    throw new InvalidChangeError(change, reason);
  };
  switch (ins) {
    case "CMD":
      return { ...c, Cmd: execOrShell(rest) };
    case "ENTRYPOINT":
      return { ...c, Entrypoint: execOrShell(rest) };
    case "ENV": {
      const env = [...(c.Env ?? [])];
      for (const [k, v] of nameValues(rest, "ENV", fail)) {
        const i = env.findIndex((e) => e.split("=", 1)[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      return { ...c, Env: env };
    }
    case "LABEL": {
      const labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of nameValues(rest, "LABEL", fail)) labels[k] = v;
      return { ...c, Labels: labels };
    }
    case "WORKDIR":
      // As the Dockerfile builder: a relative WORKDIR is relative to the previous one.
      return { ...c, WorkingDir: posix.resolve(c.WorkingDir ?? "/", rest) };
    case "USER": {
      if (/\s/.test(rest)) fail("USER takes exactly one argument: USER[:GROUP]");
      return { ...c, User: rest };
    }
    case "EXPOSE": {
      const ports = { ...(c.ExposedPorts ?? {}) };
      for (const spec of words(rest, fail)) for (const p of expandPorts(spec, fail)) ports[p] = {};
      return { ...c, ExposedPorts: ports };
    }
    case "STOPSIGNAL":
      if (!isSignal(rest)) fail(`invalid signal: ${rest}`);
      return { ...c, StopSignal: rest };
    case "VOLUME": {
      const list = rest.startsWith("[") ? jsonArray(rest) ?? fail("VOLUME: invalid JSON array") : words(rest, fail);
      const volumes = { ...(c.Volumes ?? {}) };
      for (const v of list) {
        if (v.trim() === "") fail("VOLUME specified can not be an empty string");
        volumes[v] = {};
      }
      return { ...c, Volumes: volumes };
    }
  }
}

/** JSON exec form when it parses as an array of strings, else shell form (as Docker decides). */
function execOrShell(rest: string): string[] {
  return jsonArray(rest) ?? ["/bin/sh", "-c", rest];
}

function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  } catch {
    // not JSON: the shell form, as the Dockerfile parser falls back
  }
  return undefined;
}

/**
 * Split on unquoted whitespace, honouring "double" and 'single' quotes and backslash escapes,
 * as the Dockerfile parser does for ENV and LABEL.
 */
export function words(s: string, fail: (reason: string) => never): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote === null && /\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === "\\" && quote !== "'") {
      const next = s[i + 1];
      if (next === undefined) fail("trailing backslash");
      cur += next;
      i++;
    } else if (quote === null && (ch === '"' || ch === "'")) {
      quote = ch;
    } else if (ch === quote) {
      quote = null;
    } else {
      cur += ch;
    }
  }
  if (quote !== null) fail(`unterminated ${quote} quote`);
  if (inWord) out.push(cur);
  return out;
}

/** `k=v k2="v 2"`, or the legacy single-pair form `k v w` (everything after the key is the value). */
function nameValues(rest: string, ins: string, fail: (reason: string) => never): Array<[string, string]> {
  const first = /^\S+/.exec(rest)?.[0] ?? "";
  if (!first.includes("=")) {
    const value = rest.slice(first.length).trim();
    if (value === "") fail(`${ins} ${first}: missing value (use ${ins} ${first}=VALUE)`);
    const [key] = words(first, fail);
    return [[key ?? first, words(value, fail).join(" ")]];
  }
  return words(rest, fail).map((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) fail(`${ins} ${w}: expected NAME=VALUE`);
    const key = w.slice(0, eq);
    if (key === "") fail(`${ins} names can not be blank`);
    return [key, w.slice(eq + 1)];
  });
}

/** `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` -> `80/tcp`..., as Docker's nat.ParsePortSpec. */
function expandPorts(spec: string, fail: (reason: string) => never): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/([a-zA-Z]+))?$/.exec(spec);
  if (!m) return fail(`invalid port ${JSON.stringify(spec)}: expected PORT[-PORT][/PROTO]`);
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (!["tcp", "udp", "sctp"].includes(proto)) fail(`invalid protocol ${JSON.stringify(m[3])} in ${spec}: expected tcp, udp or sctp`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535) fail(`invalid port ${spec}: ports are 0 to 65535`);
  if (hi < lo) fail(`invalid port range ${spec}: end is below start`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

/** `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`: what Docker's signal.ParseSignal accepts. */
export function isSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) >= 1 && Number(s) <= 64;
  const name = s.toUpperCase().replace(/^SIG/, "");
  const rt = /^RT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) return rt[2] === undefined || Math.abs(Number(rt[2])) <= 30;
  return Object.prototype.hasOwnProperty.call(constants.signals, `SIG${name}`);
}

function sortedKeys<T>(o: Record<string, T> | undefined): Record<string, T> | undefined {
  if (o === undefined) return undefined;
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k] as T;
  return out;
}

/**
 * The config with keys in a fixed order (the OCI spec's) and maps sorted, as Go's encoder writes
 * them: the same settings give the same bytes, hence the same image ID.
 */
export function canonicalConfig(c: ImageConfig): ImageConfig {
  const out: ImageConfig = {};
  if (c.User !== undefined) out.User = c.User;
  if (c.ExposedPorts !== undefined) out.ExposedPorts = sortedKeys(c.ExposedPorts);
  if (c.Env !== undefined) out.Env = [...c.Env];
  if (c.Entrypoint !== undefined) out.Entrypoint = [...c.Entrypoint];
  if (c.Cmd !== undefined) out.Cmd = [...c.Cmd];
  if (c.Volumes !== undefined) out.Volumes = sortedKeys(c.Volumes);
  if (c.WorkingDir !== undefined) out.WorkingDir = c.WorkingDir;
  if (c.Labels !== undefined) out.Labels = sortedKeys(c.Labels);
  if (c.StopSignal !== undefined) out.StopSignal = c.StopSignal;
  if (c.Healthcheck !== undefined) out.Healthcheck = { ...c.Healthcheck };
  if (c.OnBuild !== undefined) out.OnBuild = [...c.OnBuild];
  if (c.Shell !== undefined) out.Shell = [...c.Shell];
  return out;
}

export interface NewImageConfig {
  diffIds: string[];
  config: ImageConfig;
  created: string;
  createdBy: string;
  comment?: string;
}

export function buildImageConfig(o: NewImageConfig): OciImageConfig {
  const history: HistoryEntry = { created: o.created, created_by: o.createdBy };
  if (o.comment !== undefined && o.comment !== "") history.comment = o.comment;
  return {
    created: o.created,
    architecture: goArch(),
    os: "linux",
    config: canonicalConfig(o.config),
    rootfs: { type: "layers", diff_ids: [...o.diffIds] },
    history: [history],
  };
}

/**
 * What makes two images the same apart from when they were made: used so that importing the
 * same tar with the same changes again (or four times at once) ends in one image, not several.
 */
export function contentKey(c: OciImageConfig): string {
  return JSON.stringify({
    architecture: c.architecture,
    os: c.os,
    config: canonicalConfig(c.config),
    rootfs: c.rootfs,
    history: (c.history ?? []).map(({ created: _created, ...rest }) => rest),
  });
}
