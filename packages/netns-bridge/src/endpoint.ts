/** Endpoints: a named netns with eth0 on a network's bridge, its lease, its published ports. */
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bridgeAddIf, linkUp } from "@box/sys";
import { config, DEFAULT_NETWORK, NAME_RE, vethName, type Config } from "./config.js";
import { hostsPath, refreshHosts, removeHosts } from "./hosts.js";
import { ipBatch, linkDelete } from "./ip.js";
import { formatIp, isHost, macFor, parseCidr, parseIp } from "./ipv4.js";
import { makeNetns, removeNetns } from "./netns.js";
import { ConflictError, enableForwarding, networkFor, syncNft } from "./network.js";
import { formatMapping, type PortMapping } from "./publish.js";
import { findEndpoint, listNetworks, readNetwork, withLock, writeNetwork, type Endpoint, type Network } from "./state.js";
import { validateEndpoint, type EndpointOptions } from "./validate.js";

export interface EndpointInfo {
  name: string;
  network: string;
  /** For `ns-exec --net=PATH`. */
  netnsPath: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  hostVeth: string;
  bridge: string;
  /** The managed hosts file to bind at the container's /etc/hosts. */
  hostsPath: string;
  /** With host ports chosen where none was given. */
  publish: PortMapping[];
}

function info(c: Config, net: Network, ep: Endpoint): EndpointInfo {
  return {
    name: ep.name,
    network: net.name,
    netnsPath: ep.netnsPath,
    ip: ep.ip,
    prefixLen: parseCidr(net.subnet)!.prefix,
    gateway: net.gateway,
    mac: ep.mac,
    hostVeth: ep.hostVeth,
    bridge: net.bridge,
    hostsPath: hostsPath(c, ep.name),
    publish: ep.publish,
  };
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
    const other = findEndpoint(c, v.name);
    if (other) throw new ConflictError(`endpoint ${v.name} already exists on network ${other.net.name}`);
    if (existsSync(netnsPath)) throw new ConflictError(`${netnsPath} already exists without a lease (a leftover: netns-bridge gc)`);
    const subnet = parseCidr(net.subnet)!;
    const gw = parseIp(net.gateway)!;
    const used = new Set(Object.values(net.endpoints).map((e) => parseIp(e.ip)!));
    let addr = v.ip;
    if (addr !== undefined) {
      const s = formatIp(addr);
      if (!isHost(subnet, addr)) throw new ConflictError(`address ${s} is not a host address of network ${net.name} (${net.subnet})`);
      if (addr === gw) throw new ConflictError(`address ${s} is the gateway of network ${net.name}`);
      if (used.has(addr)) throw new ConflictError(`address ${s} is in use on network ${net.name}`);
    } else {
      for (let a = subnet.base + 1; isHost(subnet, a); a++) {
        if (a !== gw && !used.has(a)) {
          addr = a;
          break;
        }
      }
      if (addr === undefined) throw new ConflictError(`network ${net.name} (${net.subnet}) has no free address`);
    }
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
    makeNetns(netnsPath, (hostNs) =>
      // Run inside the new netns; fd 3 of ip is the host's netns, where the peer goes.
      ipBatch(
        [
          `link add eth0 address ${ep.mac} type veth peer name ${hostVeth} netns /proc/self/fd/3`,
          `addr add ${ep.ip}/${prefix} dev eth0`,
          `link set eth0 up`,
          `route add default via ${net.gateway} dev eth0`,
        ],
        "veth",
        hostNs,
      ),
    );
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

/** Drop the lease of `name` and its rules; rewrite the neighbours' hosts files. */
function release(c: Config, name: string): void {
  withLock(c, () => {
    const found = findEndpoint(c, name);
    if (!found) return;
    delete found.net.endpoints[name];
    writeNetwork(c, found.net);
    if (found.ep.publish.length > 0) syncNft(c, `endpoint ${name}: unpublish`);
    removeHosts(c, name);
    refreshHosts(c, found.net);
  });
}

/**
 * Undo createEndpoint: the veth (eth0 goes with it), the netns mount and
 * file, the hosts file, the lease and the port rules. Also finishes what a
 * killed create left. Returns false if there was nothing of `name` at all.
 */
export function removeEndpoint(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const c = config(env);
  if (!NAME_RE.test(name)) throw new ConflictError(`endpoint ${name} not found`);
  const netnsPath = join(c.netnsDir, name);
  const found = withLock(c, () => findEndpoint(c, name));
  const hostVeth = found?.ep.hostVeth ?? vethName(netnsPath);
  const existed = found !== undefined || existsSync(netnsPath);
  linkDelete(hostVeth, `endpoint ${name}: delete ${hostVeth}`);
  removeNetns(netnsPath);
  removeHosts(c, name);
  release(c, name);
  return existed;
}

/** The endpoint's current description, or undefined. */
export function inspectEndpoint(name: string, env: NodeJS.ProcessEnv = process.env): EndpointInfo | undefined {
  const c = config(env);
  const found = findEndpoint(c, name);
  return found ? info(c, found.net, found.ep) : undefined;
}
