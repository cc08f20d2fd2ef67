/**
 * The container's side of @box/netns-bridge: make the endpoint a bridge-mode
 * container's ns-exec enters (before any namespace is touched: this part is
 * async), and take it down when the container stops or is removed.
 */
import { ExitError, describeChain } from "@box/cli";
import {
  ConflictError,
  DEFAULT_NETWORK,
  InvalidError,
  attachEndpoint,
  config,
  createEndpoint,
  createNetwork,
  gc,
  inspectNetwork,
  networks,
  removeEndpoint,
  type AttachmentInfo,
  type EndpointInfo,
  type Network,
  type PortMapping,
} from "@box/netns-bridge";
import type { Connection } from "./network.js";
import type { NetPlan } from "./spec.js";

/** netns-bridge's directory of netns and hosts files, for the ns-exec config. */
export function netnsDir(): string {
  return config().netnsDir;
}

/** A refusal of netns-bridge's as Docker's one line and exit 125; anything else is passed on. */
export function asExit(e: unknown): unknown {
  if (e instanceof InvalidError || e instanceof ConflictError) return new ExitError(e.message, 125);
  return e;
}

/** The gateway of `network`, for --add-host NAME:host-gateway; the default network is made on first use. */
function gatewayOf(network: string): string {
  try {
    return inspectNetwork(network).gateway;
  } catch (e) {
    if (!(e instanceof ConflictError) || network !== DEFAULT_NETWORK) throw e;
  }
  try {
    return createNetwork({ name: network }).gateway;
  } catch (e) {
    // Made by a concurrent run in the meantime.
    if (e instanceof ConflictError && /already exists/.test(e.message)) return inspectNetwork(network).gateway;
    throw e;
  }
}

/** Collect what dead owners left (gc) and try once more when `f` fails on an address or host port still held. */
async function retryAfterGc<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    // A host port or address may still be held by a container whose box
    // was killed: collect what dead owners left, then try once more.
    if (!(e instanceof ConflictError) || !/already published by|is in use on network/.test(e.message)) throw e;
    if (gc().length === 0) throw e;
    return await f();
  }
}

/** Attach the container's endpoint to a network it was connected to (box network connect). */
export async function attachConnection(id: string, conn: Connection): Promise<AttachmentInfo> {
  return retryAfterGc(() => attachEndpoint({ name: id, network: conn.network, ip: conn.ip, aliases: conn.aliases }));
}

/**
 * Make the endpoint named after the container, owned by `owner` (the process
 * whose exit makes it garbage: box itself in the foreground, box-monitor for
 * -d), and attach it to the networks it was connected to. On failure none of
 * it is left. Returns undefined when the container is not on a bridge network.
 */
export async function makeEndpoint(id: string, plan: NetPlan | undefined, owner: number): Promise<EndpointInfo | undefined> {
  if (!plan || plan.mode.kind !== "bridge") return undefined;
  const network = plan.mode.network;
  try {
    const extraHosts = plan.extraHosts.some((h) => h.ip === "host-gateway")
      ? (() => {
          const gw = gatewayOf(network);
          return plan.extraHosts.map((h) => (h.ip === "host-gateway" ? { host: h.host, ip: gw } : h));
        })()
      : plan.extraHosts;
    const o = { name: id, network, ip: plan.ip, publish: plan.publish, hostname: plan.hostname, extraHosts, aliases: plan.aliases, owner };
    const ep = await retryAfterGc(() => createEndpoint(o));
    try {
      for (const conn of plan.connected ?? []) await attachConnection(id, conn);
    } catch (e) {
      removeEndpoint(id);
      throw e;
    }
    return ep;
  } catch (e) {
    throw asExit(e);
  }
}

/** Remove the container's endpoint if it has one; true if something was removed. */
export function dropEndpoint(id: string): boolean {
  return removeEndpoint(id);
}

/** The pid owning the container's endpoint, if there is one. */
export function endpointOwner(id: string): number | undefined {
  for (const n of networks()) {
    const ep = n.endpoints[id];
    if (ep && !ep.iface) return ep.owner?.pid ?? 0;
  }
  return undefined;
}

/** dropEndpoint, with a failure said on stderr, not fatal (netns-bridge gc finishes it). */
export function dropEndpointQuietly(id: string): void {
  try {
    dropEndpoint(id);
  } catch (e) {
    process.stderr.write(`box: remove the network endpoint of ${id.slice(0, 12)}: ${describeChain(e)}\n`);
  }
}

export interface AttachmentView {
  network: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  aliases: string[];
}

export interface EndpointView extends AttachmentView {
  publish: PortMapping[];
  /** The networks it is connected to besides its own (box network connect), by interface (eth1, ...). */
  attachments: AttachmentView[];
}

/** The endpoints of all networks by container id, read once (box ps, inspect, port). */
export function endpointsById(): Map<string, EndpointView> {
  const out = new Map<string, EndpointView>();
  let nets: Network[] = [];
  try {
    nets = networks();
  } catch {
    return out; // no networks yet
  }
  const attached = new Map<string, (AttachmentView & { iface: string })[]>();
  for (const n of nets) {
    const prefixLen = Number(n.subnet.split("/")[1]);
    for (const ep of Object.values(n.endpoints)) {
      if (ep.pending) continue;
      const view = { network: n.name, ip: ep.ip, prefixLen, gateway: n.gateway, mac: ep.mac, aliases: ep.aliases ?? [] };
      if (ep.iface) {
        const list = attached.get(ep.name) ?? [];
        list.push({ ...view, iface: ep.iface });
        attached.set(ep.name, list);
      } else out.set(ep.name, { ...view, publish: ep.publish, attachments: [] });
    }
  }
  for (const [id, list] of attached) {
    const ep = out.get(id);
    if (!ep) continue;
    list.sort((a, b) => a.iface.localeCompare(b.iface, undefined, { numeric: true }));
    ep.attachments = list.map(({ iface: _, ...v }) => v);
  }
  return out;
}

/** Docker's PORTS column: "0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp". */
export function portsText(publish: PortMapping[]): string {
  return publish.map((m) => `${m.hostIp}:${m.hostPort}->${m.containerPort}/${m.proto}`).join(", ");
}

/** Docker's NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}]}. */
export function portsObject(publish: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of publish) (out[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  return out;
}
