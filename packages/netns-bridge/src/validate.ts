/** Checks on options that need nothing from the host: run before anything is made. */
import { DEFAULT_NETWORK, NAME_RE, RESERVED } from "./config.js";
import { contains, formatCidr, isHost, parseCidr, parseIp, type Cidr } from "./ipv4.js";
import { parsePublish, type PortMapping } from "./publish.js";
import type { ExtraHost } from "./state.js";

export class InvalidError extends Error {
  override name = "InvalidError";
}

export interface NetworkOptions {
  name: string;
  subnet?: string;
  gateway?: string;
}

export interface ValidNetwork {
  name: string;
  subnet?: Cidr;
  gateway?: number;
}

export function validateNetwork(o: NetworkOptions): ValidNetwork {
  if (!NAME_RE.test(o.name)) throw new InvalidError(`invalid network name '${o.name}': letters, digits, '_', '.', '-', up to 128`);
  if (RESERVED.includes(o.name)) throw new InvalidError(`network name '${o.name}' is reserved`);
  const v: ValidNetwork = { name: o.name };
  if (o.subnet !== undefined) {
    const c = parseCidr(o.subnet);
    if (!c) throw new InvalidError(`invalid subnet '${o.subnet}': an IPv4 CIDR with no host bits set, e.g. 10.10.0.0/24`);
    if (c.prefix < 8 || c.prefix > 29) throw new InvalidError(`subnet '${o.subnet}': the prefix must be /8 to /29`);
    const special = ["127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "169.254.0.0/16"].map((s) => parseCidr(s)!);
    for (const s of special) {
      if (contains(s, c.base) || contains(c, s.base)) throw new InvalidError(`subnet '${o.subnet}' overlaps the reserved range ${formatCidr(s)}`);
    }
    v.subnet = c;
  }
  if (o.gateway !== undefined) {
    const g = parseIp(o.gateway);
    if (g === null) throw new InvalidError(`invalid gateway '${o.gateway}': an IPv4 address`);
    if (!v.subnet) throw new InvalidError("--gateway needs --subnet");
    if (!isHost(v.subnet, g)) throw new InvalidError(`gateway ${o.gateway} is not a host address of ${formatCidr(v.subnet)}`);
    v.gateway = g;
  }
  return v;
}

export interface EndpointOptions {
  /** The endpoint's name: its netns file is $BOX_RUN/netns/NAME. */
  name: string;
  /** Default box0, created on first use. */
  network?: string;
  ip?: string;
  /** -p specs ("8080:80/udp") or parsed mappings. */
  publish?: Array<string | PortMapping>;
  /** The container's hostname, listed for its own address in its hosts file. */
  hostname?: string;
  /** --add-host entries for the hosts file. */
  extraHosts?: ExtraHost[];
  /** More names for the endpoint's address, in its own and its neighbours' hosts files. */
  aliases?: string[];
  /** The pid whose life the endpoint follows: gc removes the endpoint once it is gone. */
  owner?: number;
}

export interface ValidEndpoint {
  name: string;
  network: string;
  ip?: number;
  publish: PortMapping[];
  hostname?: string;
  extraHosts: ExtraHost[];
  aliases: string[];
  owner?: number;
}

const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function validateEndpoint(o: EndpointOptions): ValidEndpoint {
  if (!NAME_RE.test(o.name)) throw new InvalidError(`invalid endpoint name '${o.name}': letters, digits, '_', '.', '-', up to 128`);
  const network = o.network ?? DEFAULT_NETWORK;
  if (network !== DEFAULT_NETWORK) validateNetwork({ name: network });
  const v: ValidEndpoint = { name: o.name, network, publish: [], extraHosts: [], aliases: [] };
  if (o.ip !== undefined) {
    const ip = parseIp(o.ip);
    if (ip === null) throw new InvalidError(`invalid address '${o.ip}': an IPv4 address`);
    v.ip = ip;
  }
  for (const p of o.publish ?? []) {
    try {
      v.publish.push(...(typeof p === "string" ? parsePublish(p) : [p]));
    } catch (err) {
      throw new InvalidError((err as Error).message);
    }
  }
  for (const m of v.publish) {
    const ok = (n: number, zero: boolean) => Number.isInteger(n) && n <= 65535 && (n >= 1 || (zero && n === 0));
    if (!ok(m.hostPort, true) || !ok(m.containerPort, false) || parseIp(m.hostIp) === null || !["tcp", "udp"].includes(m.proto)) {
      throw new InvalidError(`invalid port mapping ${JSON.stringify(m)}`);
    }
  }
  const seen = new Set<string>();
  for (const m of v.publish) {
    if (m.hostPort === 0) continue;
    const k = `${m.hostPort}/${m.proto}`;
    if (seen.has(k)) throw new InvalidError(`host port ${k} is published twice`);
    seen.add(k);
  }
  if (o.hostname !== undefined) {
    if (!HOST_RE.test(o.hostname) || o.hostname.length > 64) throw new InvalidError(`invalid hostname '${o.hostname}'`);
    v.hostname = o.hostname;
  }
  for (const h of o.extraHosts ?? []) {
    if (!HOST_RE.test(h.host)) throw new InvalidError(`invalid host name '${h.host}' in an extra host`);
    if (parseIp(h.ip) === null && !/^[0-9a-fA-F:]+$/.test(h.ip)) throw new InvalidError(`invalid address '${h.ip}' for host ${h.host}`);
    v.extraHosts.push({ host: h.host, ip: h.ip });
  }
  for (const a of o.aliases ?? []) {
    if (!HOST_RE.test(a) || a.length > 128) throw new InvalidError(`invalid alias '${a}'`);
    if (!v.aliases.includes(a)) v.aliases.push(a);
  }
  if (o.owner !== undefined && (!Number.isInteger(o.owner) || o.owner < 1)) throw new InvalidError(`invalid owner pid ${o.owner}`);
  if (o.owner !== undefined) v.owner = o.owner;
  return v;
}


export interface AttachOptions {
  /** The endpoint to attach: it must exist, on another network. */
  name: string;
  /** The network to attach it to. */
  network: string;
  ip?: string;
  /** Names for the new address in the hosts files of that network's endpoints. */
  aliases?: string[];
}

export interface ValidAttach {
  name: string;
  network: string;
  ip?: number;
  aliases: string[];
}

export function validateAttach(o: AttachOptions): ValidAttach {
  if (o.network === undefined || o.network === "") throw new InvalidError("attach needs a network");
  const e = validateEndpoint({ name: o.name, network: o.network, ip: o.ip, aliases: o.aliases });
  const v: ValidAttach = { name: e.name, network: e.network, aliases: e.aliases };
  if (e.ip !== undefined) v.ip = e.ip;
  return v;
}
