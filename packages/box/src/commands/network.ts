/**
 * box network create|ls|rm|inspect|prune and box port: Docker's network verbs
 * over @box/netns-bridge, which owns the bridges, leases and nftables rules.
 */
import { parseArgs, flag, list, str, UsageError, ExitError, describeChain } from "@box/cli";
import { ConflictError, DEFAULT_NETWORK, createNetwork, detachEndpoint, gc, inspectNetwork, networks, removeNetwork, validateAttach, type Network } from "@box/netns-bridge";
import type { BoxPaths } from "../paths.js";
import { getContainer, type Ctr } from "../container/ops.js";
import { NoSuchContainerError } from "../container/lookup.js";
import { listIds, loadRecord, loadSpec, saveSpec } from "../container/state.js";
import { confirmRemoval } from "../prompt.js";
import { asExit, attachConnection, endpointOwner, endpointsById } from "../run/endpoint.js";
import { parseNetworkMode, type Connection, type NetworkMode } from "../run/network.js";
import type { NetPlan } from "../run/spec.js";
import { table } from "../format.js";
import { renderTemplate } from "../template.js";

export const NETWORK_HELP = `Usage:  box network COMMAND

Manage networks (Linux bridges made by netns-bridge; box0 is the default one)

Commands:
  connect     Connect a container to a network: box network connect [--ip IP] [--alias A]... NETWORK CONTAINER
  create      Create a network: box network create [--subnet CIDR] [--gateway IP] NAME
  disconnect  Disconnect a container from a network: box network disconnect [-f] NETWORK CONTAINER
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks

Containers on a user network reach each other by name (managed /etc/hosts
files); on box0 only by address, as on Docker's default bridge.
`;

export const CONNECT_HELP = `Usage:  box network connect [OPTIONS] NETWORK CONTAINER

Connect a container to a network: a running one gets another interface
(eth1, eth2, ...) on the network's bridge at once, a stopped one at its
next start. Its name and aliases resolve on that network.

Options:
      --alias strings   Add network-scoped alias for the container
      --ip string       IPv4 address (e.g., "172.30.100.104")
`;

export const PRUNE_HELP = `Usage:  box network prune [OPTIONS]

Remove all unused networks (custom networks no container names)

Options:
  -f, --force   Do not prompt for confirmation
`;

export const DISCONNECT_HELP = `Usage:  box network disconnect [OPTIONS] NETWORK CONTAINER

Disconnect a container from a network it was connected to with
box network connect (the network it was run on stays: box rm removes it)

Options:
  -f, --force   Force the container to disconnect from a network
`;

function fail(e: unknown): never {
  throw asExit(e);
}

function containerName(p: BoxPaths, id: string): string {
  try {
    return loadRecord(p, id).Name.replace(/^\//, "");
  } catch {
    return id.slice(0, 12);
  }
}

/** Docker's `network inspect` shape. */
function networkObject(p: BoxPaths, n: Network): Record<string, unknown> {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: "local",
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: false,
    Attachable: false,
    Containers: Object.fromEntries(
      Object.values(n.endpoints).map((ep) => [
        ep.name,
        { Name: containerName(p, ep.name), EndpointID: ep.hostVeth, MacAddress: ep.mac, IPv4Address: `${ep.ip}/${n.subnet.split("/")[1]}`, IPv6Address: "" },
      ]),
    ),
    Options: { "com.docker.network.bridge.name": n.bridge },
    Labels: {},
  };
}

async function create(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["subnet", "gateway", "driver"], alias: { d: "driver" } });
  if (a.rest.length !== 1) throw new UsageError('"box network create" requires exactly 1 argument');
  const driver = str(a, "driver") ?? "bridge";
  if (driver !== "bridge") throw new ExitError(`plugin "${driver}" not found: box has the bridge driver only`, 125);
  let n: Network;
  try {
    n = createNetwork({ name: a.rest[0]!, subnet: str(a, "subnet"), gateway: str(a, "gateway") });
  } catch (e) {
    fail(e);
  }
  process.stdout.write(n.id + "\n");
  return 0;
}

async function ls(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["quiet", "no-trunc"], string: ["format"], alias: { q: "quiet" } });
  const trunc = !flag(a, "no-trunc");
  const nets = networks().sort((x, y) => x.name.localeCompare(y.name));
  const id = (n: Network) => (trunc ? n.id.slice(0, 12) : n.id);
  if (flag(a, "quiet")) {
    process.stdout.write(nets.map((n) => id(n) + "\n").join(""));
    return 0;
  }
  const fields = (n: Network) => ({ ID: id(n), Name: n.name, Driver: n.driver, Scope: "local", Subnet: n.subnet, Gateway: n.gateway, Bridge: n.bridge });
  const format = str(a, "format");
  if (format === "json" || format === "{{json .}}") {
    process.stdout.write(nets.map((n) => JSON.stringify(fields(n)) + "\n").join(""));
    return 0;
  }
  if (format !== undefined && format !== "table") {
    process.stdout.write(nets.map((n) => renderTemplate(format.replace(/^table\s+/, ""), fields(n)) + "\n").join(""));
    return 0;
  }
  process.stdout.write(table([["NETWORK ID", "NAME", "DRIVER", "SCOPE"], ...nets.map((n) => [id(n), n.name, n.driver, "local"])]));
  return 0;
}

async function rm(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force"], alias: { f: "force" } });
  if (a.rest.length === 0) throw new UsageError('"box network rm" requires at least 1 argument');
  let code = 0;
  for (const name of a.rest) {
    try {
      removeNetwork(name);
      process.stdout.write(name + "\n");
    } catch (e) {
      const x = asExit(e);
      if (!(x instanceof ExitError)) throw e;
      process.stderr.write(`box: ${x.message}\n`);
      code = 125;
    }
  }
  return code;
}

async function inspect(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["format"], alias: { f: "format" } });
  if (a.rest.length === 0) throw new UsageError('"box network inspect" requires at least 1 argument');
  const out: Record<string, unknown>[] = [];
  let code = 0;
  for (const name of a.rest) {
    try {
      out.push(networkObject(p, inspectNetwork(name)));
    } catch (e) {
      process.stderr.write(`box: Error: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  const format = str(a, "format");
  if (format !== undefined) for (const o of out) process.stdout.write(renderTemplate(format, o) + "\n");
  else process.stdout.write(JSON.stringify(out, null, 4) + "\n");
  return code;
}

/** Network commands fail as Docker's do: one line, exit 1. */
function failOne(e: unknown): never {
  const x = asExit(e);
  if (x instanceof ExitError && !(x instanceof UsageError)) throw new ExitError(x.message, 1, { cause: x.cause });
  if (x instanceof Error && !(x instanceof ExitError)) throw new ExitError(describeChain(x), 1);
  throw x;
}

/** The network NAME of connect/disconnect: Docker's "bridge" is box0; the run modes are not networks. */
function targetNetwork(name: string): NetworkMode {
  try {
    return parseNetworkMode(name);
  } catch {
    throw new ExitError(`network ${name} not found`, 1);
  }
}

/** The container's network plan as saved with its spec; older records without one read their NetworkMode. */
function planOf(p: BoxPaths, c: Ctr): NetPlan {
  const net = loadSpec(p, c.id).net;
  return net ?? { mode: parseNetworkMode(c.rec.HostConfig.NetworkMode), publish: [], extraHosts: [], aliases: [] };
}

function savePlan(p: BoxPaths, id: string, plan: NetPlan): void {
  const s = loadSpec(p, id);
  saveSpec(p, id, s.options, s.layers, plan);
}

const shown = (network: string) => (network === DEFAULT_NETWORK ? "bridge" : network);

/** Refusals that Docker gives for the run modes that own no endpoint (host, none, container:). */
function modeConflict(mode: NetworkMode, target: NetworkMode): string | undefined {
  if (mode.kind === "host" || target.kind === "host") return "container cannot be disconnected from host network or connected to host network";
  if (mode.kind === "none" || target.kind === "none") return "container cannot be connected to multiple networks with one of the networks in private (none) mode";
  if (mode.kind === "container" || target.kind === "container") return "container sharing network namespace with another container or host cannot be connected to any other network";
  return undefined;
}

/** box network connect [--ip IP] [--alias A]... NETWORK CONTAINER */
async function connect(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["ip"], multi: ["alias"], boolean: ["help"], alias: { h: "help" } });
  if (flag(a, "help")) {
    process.stdout.write(CONNECT_HELP);
    return 0;
  }
  if (a.rest.length !== 2) throw new ExitError(`"box network connect" requires exactly 2 arguments.\nSee 'box network connect --help'.`, 1);
  const [netArg, ref] = a.rest as [string, string];
  try {
    const c = getContainer(p, ref);
    const name = c.rec.Name.replace(/^\//, "");
    const target = targetNetwork(netArg);
    const plan = planOf(p, c);
    const conflict = modeConflict(plan.mode, target);
    if (conflict) throw new ExitError(conflict, 1);
    if (target.kind !== "bridge" || plan.mode.kind !== "bridge") throw new ExitError(`network ${netArg} not found`, 1);
    const network = target.network;
    // Checked before anything is made: the address and the names (netns-bridge's rules), the network.
    const conn: Connection = { network, aliases: [...new Set([name, ...list(a, "alias")])] };
    const ip = str(a, "ip");
    if (ip !== undefined) conn.ip = ip;
    validateAttach({ name: c.id, ...conn });
    if (network !== DEFAULT_NETWORK) inspectNetwork(network);
    const connected = plan.connected ?? [];
    if (plan.mode.network === network || connected.some((x) => x.network === network)) {
      throw new ExitError(`endpoint with name ${name} already exists in network ${shown(network)}`, 1);
    }
    // A running container gets the interface now, a stopped one at its next start.
    const live = c.state.Running && endpointOwner(c.id) !== undefined;
    if (live) await attachConnection(c.id, conn);
    try {
      savePlan(p, c.id, { ...plan, connected: [...connected, conn] });
    } catch (e) {
      if (live) detachEndpoint(c.id, network);
      throw e;
    }
  } catch (e) {
    if (e instanceof NoSuchContainerError) throw e;
    failOne(e);
  }
  return 0;
}

/** box network disconnect [-f] NETWORK CONTAINER */
async function disconnect(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force", "help"], alias: { f: "force", h: "help" } });
  if (flag(a, "help")) {
    process.stdout.write(DISCONNECT_HELP);
    return 0;
  }
  if (a.rest.length !== 2) throw new ExitError(`"box network disconnect" requires exactly 2 arguments.\nSee 'box network disconnect --help'.`, 1);
  const [netArg, ref] = a.rest as [string, string];
  try {
    let c: Ctr;
    try {
      c = getContainer(p, ref);
    } catch (e) {
      // -f: the endpoint of a container that is gone, found on the network by id or name.
      if (!(e instanceof NoSuchContainerError) || !flag(a, "force") || !forceDetach(targetNetwork(netArg), ref)) throw e;
      return 0;
    }
    const target = targetNetwork(netArg);
    const plan = planOf(p, c);
    if (plan.mode.kind === "host" || target.kind === "host") throw new ExitError(modeConflict({ kind: "host" }, target)!, 1);
    const network = target.kind === "bridge" ? target.network : netArg;
    if (target.kind === "bridge" && network !== DEFAULT_NETWORK) inspectNetwork(network);
    if (plan.mode.kind === "bridge" && plan.mode.network === network) {
      throw new ExitError(`container ${c.rec.Name.replace(/^\//, "")} was run on network ${shown(network)}: box disconnects only the networks added with box network connect`, 1);
    }
    const connected = plan.connected ?? [];
    if (!connected.some((x) => x.network === network)) throw new ExitError(`container ${c.id} is not connected to network ${shown(network)}`, 1);
    const ep = networks().find((n) => n.name === network)?.endpoints[c.id];
    if (ep?.iface) detachEndpoint(c.id, network);
    savePlan(p, c.id, { ...plan, connected: connected.filter((x) => x.network !== network) });
  } catch (e) {
    if (e instanceof NoSuchContainerError) throw e;
    failOne(e);
  }
  return 0;
}

/**
 * box network prune [-f]: as Docker, every user network no container names
 * (running or not: a stopped one gets its endpoint back at its next start),
 * after what killed containers left on the networks is collected (gc).
 */
async function prune(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["force", "help"], alias: { f: "force", h: "help" } });
  if (flag(a, "help")) {
    process.stdout.write(PRUNE_HELP);
    return 0;
  }
  if (a.rest.length) throw new UsageError(`"box network prune" accepts no arguments`);
  if (!flag(a, "force") && !(await confirmRemoval("all custom networks not used by at least one container"))) return 0;
  const deleted = pruneNetworks(p);
  if (deleted.length) process.stdout.write(`Deleted Networks:\n${deleted.map((n) => `${n}\n`).join("")}`);
  return 0;
}

/** Remove the user networks no container names (network prune, system prune). */
export function pruneNetworks(p: BoxPaths): string[] {
  gc();
  const used = new Set<string>();
  for (const id of listIds(p)) {
    try {
      const rec = loadRecord(p, id);
      used.add(rec.HostConfig.NetworkMode);
      for (const c of loadSpec(p, id).net?.connected ?? []) used.add(c.network);
    } catch {
      // dead, or being removed
    }
  }
  const deleted: string[] = [];
  for (const n of networks()) {
    if (n.name === DEFAULT_NETWORK || used.has(n.name) || Object.keys(n.endpoints).length > 0) continue;
    try {
      removeNetwork(n.name);
      deleted.push(n.name);
    } catch (e) {
      // one a run took meanwhile
      if (!(asExit(e) instanceof ExitError)) throw e;
    }
  }
  return deleted;
}

/** Detach the attachment on `target` named `ref` (a container id, a prefix of one, or an alias); false if there is none. */
function forceDetach(target: NetworkMode, ref: string): boolean {
  if (target.kind !== "bridge") return false;
  let net: Network;
  try {
    net = inspectNetwork(target.network);
  } catch (e) {
    if (e instanceof ConflictError) return false;
    throw e;
  }
  const ep = Object.values(net.endpoints).find((x) => x.iface && (x.name === ref || (ref.length >= 12 && x.name.startsWith(ref)) || x.aliases?.includes(ref)));
  if (!ep) return false;
  detachEndpoint(ep.name, net.name);
  return true;
}

export async function networkCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(NETWORK_HELP);
      return 0;
    case "create":
      return create(rest);
    case "ls":
    case "list":
      return ls(rest);
    case "rm":
    case "remove":
      return rm(rest);
    case "inspect":
      return inspect(p, rest);
    case "prune":
      return prune(p, rest);
    case "connect":
      return connect(p, rest);
    case "disconnect":
      return disconnect(p, rest);
    default:
      throw new ExitError(`box network: unknown command '${verb}'\nSee 'box network --help'.`, 125);
  }
}

/** box port CONTAINER [PRIVATE_PORT[/PROTO]]: "80/tcp -> 0.0.0.0:8080", one mapping a line. */
export async function portCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, {});
  const [ref, want] = a.rest;
  if (!ref || a.rest.length > 2) throw new UsageError('"box port" requires 1 or 2 arguments');
  const c = getContainer(p, ref);
  const ep = c.state.Running ? endpointsById().get(c.id) : undefined;
  let maps = ep?.publish ?? [];
  if (want !== undefined) {
    const [port, proto = "tcp"] = want.split("/");
    maps = maps.filter((m) => String(m.containerPort) === port && m.proto === proto);
    if (maps.length === 0) throw new ExitError(`No public port '${port}/${proto}' published for ${ref}`, 1);
    process.stdout.write(maps.map((m) => `${m.hostIp}:${m.hostPort}\n`).join(""));
    return 0;
  }
  process.stdout.write(maps.map((m) => `${m.containerPort}/${m.proto} -> ${m.hostIp}:${m.hostPort}\n`).join(""));
  return 0;
}
