/**
 * Docker's network flags for `box run`, read into typed values with no side
 * effect: --network, -p/--publish, -P, --ip, --add-host, --dns. box passes
 * the result to @box/netns-bridge (createEndpoint). -p's syntax is
 * netns-bridge's own: one parser for the tool and for box.
 */
import { parsePublish, type PortMapping, type Proto } from "@box/netns-bridge";

export { parsePublish, type PortMapping, type Proto };

export type NetworkMode =
  | { kind: "none" }
  | { kind: "host" }
  /** A bridge network; "box0" for Docker's `bridge` / `default`. */
  | { kind: "bridge"; network: string }
  | { kind: "container"; container: string };

export const DEFAULT_NETWORK = "box0";

/** One `box network connect`, kept in the container's NetPlan: the network, the --ip asked for, its names there (the container's and --alias). */
export interface Connection {
  network: string;
  ip?: string;
  aliases: string[];
}

export interface ExtraHost {
  host: string;
  /** An IPv4 or IPv6 address, or "host-gateway" (the network's gateway, as Docker). */
  ip: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isIpv4(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((p) => Number(p) <= 255 && !(p.length > 1 && p.startsWith("0")));
}

export function isIpv6(s: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || !s.includes(":")) return false;
  const double = s.split("::").length - 1;
  if (double > 1) return false;
  const groups = s.split(":").filter((g) => g !== "");
  return groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g) || isIpv4(g)) && (double === 1 ? groups.length < 8 : groups.length === 8);
}

/** --network none|host|bridge|default|container:NAME|NET (undefined: the default bridge, as Docker). */
export function parseNetworkMode(v: string | undefined): NetworkMode {
  if (v === undefined || v === "" || v === "bridge" || v === "default") return { kind: "bridge", network: DEFAULT_NETWORK };
  if (v === "none") return { kind: "none" };
  if (v === "host") return { kind: "host" };
  if (v.startsWith("container:")) {
    const container = v.slice("container:".length);
    if (!container) throw new Error("--network container: needs a container name or id");
    return { kind: "container", container };
  }
  if (!NAME_RE.test(v)) throw new Error(`invalid network name '${v}'`);
  return { kind: "bridge", network: v };
}

/** -P: every EXPOSEd port ("80/tcp", "53/udp", "8080") on a free host port. */
export function publishAll(exposed: string[]): PortMapping[] {
  return exposed.flatMap((e) => parsePublish(e));
}

/** --add-host HOST:IP (or HOST=IP); IP may be an IPv6 address or host-gateway. */
export function parseAddHost(s: string): ExtraHost {
  const eq = s.indexOf("=");
  const colon = s.indexOf(":");
  const i = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
  const host = i > 0 ? s.slice(0, i) : "";
  let ip = i > 0 ? s.slice(i + 1) : "";
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (!host || !ip) throw new Error(`invalid --add-host '${s}': HOST:IP`);
  if (!HOST_RE.test(host)) throw new Error(`invalid --add-host '${s}': bad host name '${host}'`);
  if (ip !== "host-gateway" && !isIpv4(ip) && !isIpv6(ip)) throw new Error(`invalid --add-host '${s}': bad address '${ip}'`);
  return { host, ip };
}

/** --dns ADDR: an IPv4 or IPv6 nameserver. */
export function parseDns(s: string): string {
  if (!isIpv4(s) && !isIpv6(s)) throw new Error(`invalid --dns '${s}': an IP address`);
  return s;
}

/** resolv.conf content for --dns servers (plus --dns-search/--dns-option if box grows them). */
export function resolvConf(servers: string[], search: string[] = [], options: string[] = []): string {
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length) lines.push(`search ${search.join(" ")}`);
  if (options.length) lines.push(`options ${options.join(" ")}`);
  return lines.join("\n") + "\n";
}

export interface NetworkFlags {
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  /** The image's EXPOSE list, for -P. */
  exposed?: string[];
  ip?: string;
  hostname?: string;
  addHost?: string[];
  dns?: string[];
}

export interface NetworkConfig {
  mode: NetworkMode;
  publish: PortMapping[];
  ip?: string;
  extraHosts: ExtraHost[];
  dns: string[];
  /** Things Docker only warns about (printed on stderr by box). */
  warnings: string[];
}

/** All of box run's network flags, read and checked against each other as Docker does. */
export function networkConfig(f: NetworkFlags): NetworkConfig {
  const mode = parseNetworkMode(f.network);
  let publish = (f.publish ?? []).flatMap(parsePublish);
  if (f.publishAll) publish = [...publish, ...publishAll(f.exposed ?? [])];
  const warnings: string[] = [];
  if (f.ip !== undefined && !isIpv4(f.ip)) throw new Error(`invalid --ip '${f.ip}': an IPv4 address`);
  if (mode.kind !== "bridge") {
    if (f.ip !== undefined) throw new Error(`--ip needs a bridge network, not --network ${f.network}`);
    if (mode.kind === "container") {
      if (publish.length) throw new Error("conflicting options: port publishing and the container type network mode");
      if (f.hostname) throw new Error("conflicting options: hostname and the network mode");
      if (f.addHost?.length) throw new Error("conflicting options: custom host-to-IP mapping and the network mode");
      if (f.dns?.length) throw new Error("conflicting options: dns and the network mode");
    }
    if (publish.length) {
      warnings.push(`published ports are discarded when using ${mode.kind} network mode`);
      publish = [];
    }
  }
  const seen = new Set<string>();
  for (const m of publish) {
    if (m.hostPort === 0) continue;
    const k = `${m.hostIp}:${m.hostPort}/${m.proto}`;
    if (seen.has(k)) throw new Error(`host port ${m.hostPort}/${m.proto} is published twice`);
    seen.add(k);
  }
  const cfg: NetworkConfig = {
    mode,
    publish,
    extraHosts: (f.addHost ?? []).map(parseAddHost),
    dns: (f.dns ?? []).map(parseDns),
    warnings,
  };
  if (f.ip !== undefined) cfg.ip = f.ip;
  return cfg;
}
