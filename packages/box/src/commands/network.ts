/**
 * box network create|ls|rm|inspect|prune and box port: Docker's network verbs
 * over @box/netns-bridge, which owns the bridges, leases and nftables rules.
 */
import { parseArgs, flag, str, UsageError, ExitError, describeChain } from "@box/cli";
import { createNetwork, gc, inspectNetwork, networks, removeNetwork, type Network } from "@box/netns-bridge";
import type { BoxPaths } from "../paths.js";
import { getContainer } from "../container/ops.js";
import { loadRecord } from "../container/state.js";
import { asExit, endpointsById } from "../run/endpoint.js";
import { table } from "../format.js";
import { renderTemplate } from "../template.js";

export const NETWORK_HELP = `Usage:  box network COMMAND

Manage networks (Linux bridges made by netns-bridge; box0 is the default one)

Commands:
  create      Create a network: box network create [--subnet CIDR] [--gateway IP] NAME
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove what killed containers left on the networks (netns-bridge gc)
  rm          Remove one or more networks

Containers on a user network reach each other by name (managed /etc/hosts
files); on box0 only by address, as on Docker's default bridge.
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
      for (const line of gc()) process.stdout.write(line + "\n");
      return 0;
    case "connect":
    case "disconnect":
      // netns-bridge gives a container one endpoint (one veth, one lease) for now.
      throw new ExitError(`box network ${verb} is not supported yet: a container has one network, chosen with box run --network`, 125);
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
