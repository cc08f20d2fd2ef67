/** Endpoints: a named netns with eth0 on a network's bridge, its lease, its published ports, and its attachments to other networks (eth1, ...). */
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { addAddress, addDefaultRoute, addVeth, bridgeAddIf, linkUp } from "@box/sys";
import { config, DEFAULT_NETWORK, NAME_RE, vethName, type Config } from "./config.js";
import { hostsFor, hostsPath, refreshHosts, removeHosts, writeHosts } from "./hosts.js";
import { linkDelete } from "./ip.js";
import { formatIp, isHost, macFor, parseCidr, parseIp } from "./ipv4.js";
import { inNetns, makeNetns, removeNetns } from "./netns.js";
import { ConflictError, enableForwarding, networkFor, syncNft } from "./network.js";
import { formatMapping, type PortMapping } from "./publish.js";
import { findEndpoint, leasesOf, listNetworks, readNetwork, withLock, writeNetwork, type Endpoint, type Network } from "./state.js";
import { validateAttach, validateEndpoint, type AttachOptions, type EndpointOptions } from "./validate.js";

/** One interface of an endpoint on one network: what an endpoint and an attachment both report. */
export interface LinkInfo {
  /** The endpoint it belongs to. */
  name: string;
  network: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  hostVeth: string;
  bridge: string;
}

function linkInfo(net: Network, ep: Endpoint): LinkInfo {
  return { name: ep.name, network: net.name, ip: ep.ip, prefixLen: parseCidr(net.subnet)!.prefix, gateway: net.gateway, mac: ep.mac, hostVeth: ep.hostVeth, bridge: net.bridge };
}

export interface EndpointInfo extends LinkInfo {
  /** For `ns-exec --net=PATH`. */
  netnsPath: string;
  /** The managed hosts file to bind at the container's /etc/hosts. */
  hostsPath: string;
  /** With host ports chosen where none was given. */
  publish: PortMapping[];
}

function info(c: Config, net: Network, ep: Endpoint): EndpointInfo {
  return { ...linkInfo(net, ep), netnsPath: ep.netnsPath, hostsPath: hostsPath(c, ep.name), publish: ep.publish };
}

/** The start time of a process (field 22 of /proc/PID/stat), so a reused pid is not taken for its owner. */
export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the process recorded as `p` (an owner, a create or attach under way) still runs. */
export function alive(p: { pid: number; start: string }): boolean {
  const start = procStart(p.pid);
  return start !== undefined && (p.start === "" || p.start === start);
}

/**
 * Bind the host port for a moment: the kernel says whether something else
 * has it, and with port 0 picks a free one. Published ports are DNAT rules,
 * not sockets, so this only sees other programs; box's own mappings are
 * checked against the state.
 */
function probePort(m: PortMapping): Promise<number> {
  const where = `${m.hostIp}:${m.hostPort}/${m.proto}`;
  const fail = (err: NodeJS.ErrnoException) =>
    err.code === "EADDRINUSE"
      ? new ConflictError(`host port ${where} is already in use`)
      : err.code === "EADDRNOTAVAIL"
        ? new ConflictError(`host address ${m.hostIp} is not an address of this host`)
        : new Error(`bind ${where}`, { cause: err });
  return new Promise((resolve, reject) => {
    if (m.proto === "udp") {
      const s = createSocket({ type: "udp4", reuseAddr: false });
      s.once("error", (err) => {
        s.close();
        reject(fail(err));
      });
      s.bind(m.hostPort, m.hostIp, () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    } else {
      const s = createServer();
      s.once("error", (err) => reject(fail(err)));
      s.listen({ host: m.hostIp, port: m.hostPort, exclusive: true }, () => {
        const a = s.address();
        const port = typeof a === "object" && a ? a.port : m.hostPort;
        s.close(() => resolve(port));
      });
    }
  });
}

/** The address `want` (checked) or the lowest free one of `net`'s subnet. Call holding the lock. */
function leaseAddress(net: Network, want: number | undefined): number {
  const subnet = parseCidr(net.subnet)!;
  const gw = parseIp(net.gateway)!;
  const used = new Set(Object.values(net.endpoints).map((e) => parseIp(e.ip)!));
  if (want !== undefined) {
    const s = formatIp(want);
    if (!isHost(subnet, want)) throw new ConflictError(`address ${s} is not a host address of network ${net.name} (${net.subnet})`);
    if (want === gw) throw new ConflictError(`address ${s} is the gateway of network ${net.name}`);
    if (used.has(want)) throw new ConflictError(`address ${s} is in use on network ${net.name}`);
    return want;
  }
  for (let a = subnet.base + 1; isHost(subnet, a); a++) if (a !== gw && !used.has(a)) return a;
  throw new ConflictError(`network ${net.name} (${net.subnet}) has no free address`);
}

function sameHostPort(a: PortMapping, b: PortMapping): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === "0.0.0.0" || b.hostIp === "0.0.0.0");
}

/**
 * Make endpoint `o.name`: the netns file $BOX_RUN/netns/NAME, a veth pair
 * (host end vb-* on the network's bridge, eth0 inside with a leased address
 * and a default route via the gateway), lo up, the published ports, and the
 * hosts files of the network. On failure nothing of it is left.
 */
export async function createEndpoint(o: EndpointOptions, env: NodeJS.ProcessEnv = process.env): Promise<EndpointInfo> {
  const v = validateEndpoint(o);
  const c = config(env);
  mkdirSync(c.netnsDir, { recursive: true, mode: 0o755 });
  const netnsPath = join(c.netnsDir, v.name);
  const hostVeth = vethName(netnsPath);

  // The default network is made on first use; an unknown one is refused before any probing.
  withLock(c, () => networkFor(c, v.network));
  const publish: PortMapping[] = [];
  for (const m of v.publish) publish.push({ ...m, hostPort: await probePort(m) });

  // Lease the address and write the port rules under the lock; the kernel work is done outside it.
  const { net, ep } = withLock(c, () => {
    const net = networkFor(c, v.network);
    const other = leasesOf(c, v.name)[0];
    if (other) throw new ConflictError(`endpoint ${v.name} already exists on network ${other.net.name}`);
    if (existsSync(netnsPath)) throw new ConflictError(`${netnsPath} already exists without a lease (a leftover: netns-bridge gc)`);
    const addr = leaseAddress(net, v.ip);
    const all = [net, ...listNetworks(c).filter((n) => n.name !== net.name)];
    for (const m of publish) {
      for (const n of all) {
        for (const e of Object.values(n.endpoints)) {
          const hit = e.publish.find((p) => sameHostPort(p, m));
          if (hit) throw new ConflictError(`host port ${m.hostIp}:${m.hostPort}/${m.proto} is already published by ${e.name}`);
        }
      }
    }
    const ep: Endpoint = {
      name: v.name,
      ip: formatIp(addr),
      mac: macFor(addr),
      hostVeth,
      netnsPath,
      extraHosts: v.extraHosts,
      publish,
      created: new Date().toISOString(),
      pending: { pid: process.pid, start: procStart(process.pid) ?? "" },
    };
    if (v.hostname) ep.hostname = v.hostname;
    if (v.aliases.length > 0) ep.aliases = v.aliases;
    if (v.owner) ep.owner = { pid: v.owner, start: procStart(v.owner) ?? "" };
    net.endpoints[v.name] = ep;
    writeNetwork(c, net);
    if (publish.length > 0) {
      try {
        syncNft(c, `endpoint ${v.name}: publish ${publish.map(formatMapping).join(", ")}`);
      } catch (err) {
        delete net.endpoints[v.name];
        writeNetwork(c, net);
        throw err;
      }
    }
    return { net, ep };
  });

  const prefix = parseCidr(net.subnet)!.prefix;
  try {
    // Inside the new netns; the peer goes to the host's (hostNs). Over netlink, in this process:
    // what `ip link add ... type veth peer ...; ip addr add; ip link set up; ip route add` did.
    makeNetns(netnsPath, (hostNs) => {
      addVeth("eth0", ep.mac, hostVeth, hostNs);
      addAddress("eth0", ep.ip, prefix);
      linkUp("eth0");
      addDefaultRoute(net.gateway, "eth0");
    });
    bridgeAddIf(net.bridge, hostVeth);
    linkUp(hostVeth);
    enableForwarding();
  } catch (err) {
    try {
      linkDelete(hostVeth, `undo ${hostVeth}`);
      removeNetns(netnsPath);
    } finally {
      release(c, v.name);
    }
    throw new Error(`endpoint ${v.name}`, { cause: err });
  }

  return withLock(c, () => {
    const now = readNetwork(c, net.name) ?? net;
    const mine = now.endpoints[v.name] ?? ep;
    delete mine.pending;
    now.endpoints[v.name] = mine;
    writeNetwork(c, now);
    refreshHosts(c, now, now.name === DEFAULT_NETWORK ? [v.name] : undefined);
    return info(c, now, mine);
  });
}

/** Drop every lease of `name` (the endpoint and its attachments) and their rules; rewrite the neighbours' hosts files. */
function release(c: Config, name: string): void {
  withLock(c, () => {
    const leases = leasesOf(c, name);
    if (leases.length === 0) return;
    for (const { net } of leases) {
      delete net.endpoints[name];
      writeNetwork(c, net);
    }
    if (leases.some(({ ep }) => ep.publish.length > 0)) syncNft(c, `endpoint ${name}: unpublish`);
    removeHosts(c, name);
    for (const { net } of leases) refreshHosts(c, net);
  });
}

/**
 * Undo createEndpoint: the veths of its attachments and its own (the
 * interfaces inside go with them), the netns mount and file, the hosts
 * file, the leases and the port rules. Also finishes what a killed create
 * left. Returns false if there was nothing of `name` at all. Spawns nothing
 * unless the endpoint published ports (nft): links go over netlink.
 */
export function removeEndpoint(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const c = config(env);
  if (!NAME_RE.test(name)) throw new ConflictError(`endpoint ${name} not found`);
  const netnsPath = join(c.netnsDir, name);
  const leases = withLock(c, () => leasesOf(c, name));
  const own = leases.find(({ ep }) => !ep.iface);
  const hostVeth = own?.ep.hostVeth ?? vethName(netnsPath);
  const existed = leases.length > 0 || existsSync(netnsPath);
  for (const { ep } of leases) if (ep.iface) linkDelete(ep.hostVeth, `endpoint ${name}: delete ${ep.hostVeth} (${ep.iface})`);
  linkDelete(hostVeth, `endpoint ${name}: delete ${hostVeth}`);
  removeNetns(netnsPath);
  removeHosts(c, name);
  release(c, name);
  return existed;
}

/** The endpoint's current description, with its attachments, or undefined. */
export function inspectEndpoint(name: string, env: NodeJS.ProcessEnv = process.env): (EndpointInfo & { attachments: AttachmentInfo[] }) | undefined {
  const c = config(env);
  const nets = listNetworks(c);
  const found = findEndpoint(c, name, nets);
  if (!found) return undefined;
  const attachments = leasesOf(c, name, nets)
    .filter(({ ep }) => ep.iface)
    .map(({ net, ep }) => attachmentInfo(net, ep))
    .sort((a, b) => a.iface.localeCompare(b.iface, undefined, { numeric: true }));
  return { ...info(c, found.net, found.ep), attachments };
}

export interface AttachmentInfo extends LinkInfo {
  /** Its interface in the endpoint's netns: eth1, eth2, ... */
  iface: string;
  aliases: string[];
}

function attachmentInfo(net: Network, ep: Endpoint): AttachmentInfo {
  return { ...linkInfo(net, ep), iface: ep.iface ?? "eth0", aliases: ep.aliases ?? [] };
}

/** Rewrite the hosts file of `name` itself, if it still has an endpoint. Call holding the lock. */
function refreshOwn(c: Config, name: string): void {
  const nets = listNetworks(c);
  if (findEndpoint(c, name, nets)) writeHosts(hostsPath(c, name), hostsFor(nets, name));
}

/** Drop the attachment of `name` to `network` from the state (its link is already gone). */
function unlease(c: Config, name: string, network: string): void {
  withLock(c, () => {
    const net = readNetwork(c, network);
    if (!net?.endpoints[name]?.iface) return;
    delete net.endpoints[name];
    writeNetwork(c, net);
    refreshHosts(c, net);
    refreshOwn(c, name);
  });
}

/**
 * Attach endpoint `o.name` to another network: a further veth pair, ethN
 * inside its netns (the lowest free N from 1) with an address leased from
 * that network and no route but the subnet's, the host end on that
 * network's bridge. Its name and aliases go into the hosts files of that
 * network's endpoints, and theirs into its own. The nftables table does not
 * change: its rules are per network (subnet, bridge), so the new interface
 * has that network's NAT and isolation as it is. On failure nothing of it
 * is left.
 */
export function attachEndpoint(o: AttachOptions, env: NodeJS.ProcessEnv = process.env): AttachmentInfo {
  const v = validateAttach(o);
  const c = config(env);
  const { net, ep } = withLock(c, () => {
    const nets = listNetworks(c);
    const own = findEndpoint(c, v.name, nets);
    if (!own) throw new ConflictError(`endpoint ${v.name} not found`);
    if (own.ep.pending) throw new ConflictError(`endpoint ${v.name} is still being made`);
    const net = networkFor(c, v.network);
    if (net.endpoints[v.name]) throw new ConflictError(`endpoint ${v.name} already exists on network ${net.name}`);
    const addr = leaseAddress(net, v.ip);
    const taken = new Set(leasesOf(c, v.name, nets).map(({ ep }) => ep.iface ?? "eth0"));
    let n = 1;
    while (taken.has(`eth${n}`)) n++;
    const ep: Endpoint = {
      name: v.name,
      ip: formatIp(addr),
      mac: macFor(addr),
      // Named after the netns and the network: gc and rm find it from the state, two BOX_RUNs never meet.
      hostVeth: vethName(`${own.ep.netnsPath}\0${net.name}`),
      netnsPath: own.ep.netnsPath,
      iface: `eth${n}`,
      extraHosts: [],
      publish: [],
      created: new Date().toISOString(),
      pending: { pid: process.pid, start: procStart(process.pid) ?? "" },
    };
    if (own.ep.hostname) ep.hostname = own.ep.hostname;
    if (v.aliases.length > 0) ep.aliases = v.aliases;
    net.endpoints[v.name] = ep;
    writeNetwork(c, net);
    return { net, ep };
  });

  const iface = ep.iface!;
  const prefix = parseCidr(net.subnet)!.prefix;
  try {
    // Inside the endpoint's netns; the peer goes to the host's (hostNs).
    inNetns(ep.netnsPath, (hostNs) => {
      addVeth(iface, ep.mac, ep.hostVeth, hostNs);
      addAddress(iface, ep.ip, prefix);
      linkUp(iface);
    });
    bridgeAddIf(net.bridge, ep.hostVeth);
    linkUp(ep.hostVeth);
    enableForwarding();
  } catch (err) {
    try {
      linkDelete(ep.hostVeth, `undo ${ep.hostVeth}`);
    } finally {
      unlease(c, v.name, net.name);
    }
    throw new Error(`endpoint ${v.name}: attach to network ${net.name}`, { cause: err });
  }

  return withLock(c, () => {
    const now = readNetwork(c, net.name);
    const mine = now?.endpoints[v.name];
    if (!now || !mine || mine.hostVeth !== ep.hostVeth) {
      // The endpoint was removed meanwhile (its container stopped): so goes this.
      linkDelete(ep.hostVeth, `undo ${ep.hostVeth}`);
      throw new ConflictError(`endpoint ${v.name} was removed while it was being attached to network ${net.name}`);
    }
    delete mine.pending;
    writeNetwork(c, now);
    refreshHosts(c, now, now.name === DEFAULT_NETWORK ? [v.name] : undefined);
    return attachmentInfo(now, mine);
  });
}

/**
 * Undo attachEndpoint: delete the host end of the veth (ethN inside goes
 * with it, over netlink: nothing is spawned), drop the lease, rewrite the
 * hosts files. The endpoint's own network is not an attachment: rm removes it.
 */
export function detachEndpoint(name: string, network: string, env: NodeJS.ProcessEnv = process.env): AttachmentInfo {
  const c = config(env);
  return withLock(c, () => {
    const net = readNetwork(c, network);
    if (!net) throw new ConflictError(`network ${network} not found`);
    const ep = net.endpoints[name];
    if (!ep) throw new ConflictError(`endpoint ${name} is not on network ${network}`);
    if (!ep.iface) throw new ConflictError(`network ${network} is the one endpoint ${name} was made on, not an attachment: remove the endpoint with 'rm'`);
    if (ep.pending && alive(ep.pending)) throw new ConflictError(`endpoint ${name} is still being attached to network ${network}`);
    linkDelete(ep.hostVeth, `endpoint ${name}: delete ${ep.hostVeth} (${ep.iface})`);
    delete net.endpoints[name];
    writeNetwork(c, net);
    refreshHosts(c, net);
    refreshOwn(c, name);
    return attachmentInfo(net, ep);
  });
}
