/** Networks: a bridge with the gateway address, a subnet to lease from, NAT in box's nftables table. */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { bridgeName, config, DEFAULT_NETWORK, type Config } from "./config.js";
import { ipBatch, linkDelete, linkExists, routes } from "./ip.js";
import { formatCidr, formatIp, overlaps, parseCidr, type Cidr } from "./ipv4.js";
import { apply, render } from "./nft.js";
import { deleteNetwork, listNetworks, readNetwork, withLock, writeNetwork, type Network } from "./state.js";
import { validateNetwork, type NetworkOptions, type ValidNetwork } from "./validate.js";

/** A refusal about the state of the host or of the networks (the command was well formed). */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/** Docker's default address pools: 172.17-31.0.0/16, then 192.168.0-240.0/20. */
export function* pool(): Generator<Cidr> {
  for (let b = 17; b <= 31; b++) yield parseCidr(`172.${b}.0.0/16`)!;
  for (let c = 0; c <= 240; c += 16) yield parseCidr(`192.168.${c}.0/20`)!;
}

function clash(c: Config, subnet: Cidr): string | undefined {
  for (const n of listNetworks(c)) {
    if (overlaps(parseCidr(n.subnet)!, subnet)) return `network ${n.name} (${n.subnet})`;
  }
  for (const r of routes()) if (overlaps(r.dst, subnet)) return `the route ${r.text}`;
  return undefined;
}

/** net.ipv4.ip_forward must be 1 for the host to route between bridges and out; box sets it and leaves it set, as Docker does. */
export function enableForwarding(): void {
  const f = "/proc/sys/net/ipv4/ip_forward";
  if (readFileSync(f, "utf8").trim() !== "1") writeFileSync(f, "1");
}

/** Rewrite box's nftables table from the state files. Call holding the lock. */
export function syncNft(c: Config, what: string): void {
  apply(render(c.table, listNetworks(c)), what);
}

/** Create network `v` (holding the lock). */
function createLocked(c: Config, v: ValidNetwork): Network {
  if (readNetwork(c, v.name)) throw new ConflictError(`network ${v.name} already exists`);
  let subnet = v.subnet;
  if (subnet) {
    const what = clash(c, subnet);
    if (what) throw new ConflictError(`subnet ${formatCidr(subnet)} overlaps ${what}`);
  } else {
    for (const cand of pool()) {
      if (!clash(c, cand)) {
        subnet = cand;
        break;
      }
    }
    if (!subnet) throw new ConflictError("no free subnet left in 172.17-31.0.0/16 or 192.168.0-240.0/20; give --subnet");
  }
  const id = randomBytes(32).toString("hex");
  const bridge = bridgeName(c, v.name, id);
  if (linkExists(bridge)) throw new ConflictError(`interface ${bridge} already exists (another box, or a leftover: netns-bridge gc)`);
  const gateway = v.gateway ?? subnet.base + 1;
  const net: Network = {
    name: v.name,
    id,
    driver: "bridge",
    bridge,
    subnet: formatCidr(subnet),
    gateway: formatIp(gateway),
    created: new Date().toISOString(),
    endpoints: {},
  };
  // State first: a create killed half-way leaves a network that `network rm` knows how to remove.
  writeNetwork(c, net);
  try {
    ipBatch(
      [`link add ${bridge} type bridge`, `addr add ${net.gateway}/${subnet.prefix} dev ${bridge}`, `link set ${bridge} up`],
      `create bridge ${bridge}`,
    );
    // Published ports answer on 127.0.0.1: DNAT in the output hook sends a
    // loopback-sourced packet out of the bridge, which the kernel drops as
    // martian unless route_localnet is set on that interface (the nftables
    // table masquerades the source to the gateway on the way out).
    writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, "1");
    enableForwarding();
    syncNft(c, `network ${v.name}: nftables`);
  } catch (err) {
    linkDelete(bridge, `undo bridge ${bridge}`);
    deleteNetwork(c, v.name);
    try {
      syncNft(c, "undo nftables");
    } catch {
      // the original error says more
    }
    throw err;
  }
  return net;
}

export function createNetwork(o: NetworkOptions, env: NodeJS.ProcessEnv = process.env): Network {
  const v = validateNetwork(o);
  const c = config(env);
  return withLock(c, () => createLocked(c, v));
}

/** The network an endpoint joins; the default one is created on first use. Call holding the lock. */
export function networkFor(c: Config, name: string): Network {
  const net = readNetwork(c, name);
  if (net) return net;
  if (name !== DEFAULT_NETWORK) throw new ConflictError(`network ${name} not found`);
  return createLocked(c, { name });
}

export function removeNetwork(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const c = config(env);
  withLock(c, () => {
    const net = readNetwork(c, name);
    if (!net) throw new ConflictError(`network ${name} not found`);
    const eps = Object.keys(net.endpoints).sort();
    if (eps.length > 0) {
      const list = eps.length > 3 ? `${eps.slice(0, 3).join(", ")}, ...` : eps.join(", ");
      throw new ConflictError(`network ${name} has ${eps.length} endpoint${eps.length > 1 ? "s" : ""} attached (${list}); remove them first`);
    }
    linkDelete(net.bridge, `network ${name}: delete bridge`);
    deleteNetwork(c, name);
    syncNft(c, `network ${name}: nftables`);
  });
}

export function networks(env: NodeJS.ProcessEnv = process.env): Network[] {
  return listNetworks(config(env));
}

export function inspectNetwork(name: string, env: NodeJS.ProcessEnv = process.env): Network {
  const net = readNetwork(config(env), name);
  if (!net) throw new ConflictError(`network ${name} not found`);
  return net;
}

