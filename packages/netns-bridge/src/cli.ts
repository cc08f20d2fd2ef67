import { UsageError, flag, list, parseArgs, str, type Tool } from "@box/cli";
import { attachEndpoint, createEndpoint, detachEndpoint, inspectEndpoint, removeEndpoint } from "./endpoint.js";
import { gc } from "./gc.js";
import { hostsFor } from "./hosts.js";
import { createNetwork, inspectNetwork, networks, removeNetwork } from "./network.js";
import { formatMapping } from "./publish.js";
import { config } from "./config.js";
import { findEndpoint, listNetworks } from "./state.js";
import { InvalidError } from "./validate.js";

export const HELP = `Usage:
 netns-bridge create NAME [--network NET] [--ip ADDR] [-p SPEC]... [--hostname H]
                          [--add-host HOST:IP]... [--alias NAME]... [--owner PID] [--json]
 netns-bridge attach NAME --network NET [--ip ADDR] [--alias NAME]... [--json]
 netns-bridge detach NAME --network NET
 netns-bridge rm NAME...
 netns-bridge inspect NAME
 netns-bridge hosts NAME
 netns-bridge network create NET [--subnet CIDR] [--gateway IP]
 netns-bridge network ls
 netns-bridge network inspect NET...
 netns-bridge network rm NET...
 netns-bridge gc

Make named network namespaces on Linux bridges: a veth pair with the host
end (vb-*) on the network's bridge, eth0 inside with an address leased from
the network's subnet, a default route via the gateway, and lo up. create
prints the netns path, for 'ns-exec --net=PATH'. rm undoes all of it.

attach gives endpoint NAME another interface, on another network: eth1,
eth2, ... with an address of that network, and the names of that network's
endpoints in its hosts file (and its in theirs); it prints the interface.
detach removes one; rm removes them all with the endpoint.

Networks are bridges with NAT out of the host; box0 is the default one and
is made on first use. Published ports and NAT live in box's own nftables
table; nothing else's rules are touched.

Options:
     --network NET     the network to join (default box0; attach and
                         detach need it)
     --ip ADDR         this address instead of the next free one
 -p, --publish SPEC    publish a port: [IP:][HOSTPORT:]CPORT[/tcp|udp],
                         ports may be ranges (8000-8001:80-81); may repeat
     --hostname H      the name of the endpoint's own address in its hosts file
     --add-host H:IP   an extra line for the hosts file; may repeat
     --alias NAME      another name of the endpoint's address, in its
                         neighbours' hosts files too; may repeat
     --owner PID       the process the endpoint lives with; gc removes it
                         once that process is gone
     --json            print the endpoint (attach: the attachment) as JSON
                         instead of its netns path (attach: its interface)
     --subnet CIDR     the network's IPv4 subnet (default: the first free one
                         of 172.17-31.0.0/16, 192.168.0-240.0/20)
     --gateway IP      the bridge's address (default: the first in the subnet)
 -h, --help            display this help and exit

Environment:
 BOX_ROOT              networks and leases in $BOX_ROOT/networks (/var/lib/box)
 BOX_RUN               netns and hosts files in $BOX_RUN/netns (/run/box)
 BOX_NFT_TABLE         the nftables table, family ip (default box)
 BOX_BRIDGE_PREFIX     name bridges PREFIX0 (default network) and PREFIX<id>
                         (default box0 and br-<id>)
`;

function usage(err: unknown): never {
  if (err instanceof InvalidError) throw new UsageError(err.message);
  throw err;
}

function one(rest: string[], what: string): string {
  if (rest.length === 0) throw new UsageError(`missing ${what}`);
  if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
  return rest[0]!;
}

function addHost(s: string): { host: string; ip: string } {
  const i = s.indexOf(":");
  if (i <= 0 || i === s.length - 1) throw new UsageError(`--add-host '${s}': HOST:IP`);
  return { host: s.slice(0, i), ip: s.slice(i + 1) };
}

async function network(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === "-h" || verb === "--help") {
    process.stdout.write(HELP);
    return 0;
  }
  const p = parseArgs(args, { string: ["subnet", "gateway"], boolean: ["help"], alias: { h: "help" } });
  if (flag(p, "help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const only = (ok: string[]) => {
    for (const k of ["subnet", "gateway"]) if (p.opts[k] !== undefined && !ok.includes(k)) throw new UsageError(`--${k} needs 'network create'`);
  };
  switch (verb) {
    case "create": {
      only(["subnet", "gateway"]);
      const name = one(p.rest, "network name");
      let net;
      try {
        net = createNetwork({ name, subnet: str(p, "subnet"), gateway: str(p, "gateway") });
      } catch (err) {
        usage(err);
      }
      process.stdout.write(`${net.name}\n`);
      return 0;
    }
    case "ls": {
      only([]);
      if (p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]}'`);
      for (const n of networks()) {
        process.stdout.write(`${n.name}\t${n.bridge}\t${n.subnet}\t${n.gateway}\t${Object.keys(n.endpoints).length}\n`);
      }
      return 0;
    }
    case "inspect": {
      only([]);
      if (!p.rest.length) throw new UsageError("missing network name");
      const out = p.rest.map((n) => inspectNetwork(n));
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      return 0;
    }
    case "rm": {
      only([]);
      if (!p.rest.length) throw new UsageError("missing network name");
      for (const n of p.rest) {
        removeNetwork(n);
        process.stdout.write(`${n}\n`);
      }
      return 0;
    }
    case undefined:
      throw new UsageError("missing network command (create, ls, inspect, rm)");
    default:
      throw new UsageError(`unknown network command '${verb}'`);
  }
}

async function run(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === "-h" || verb === "--help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (verb === "network") return network(args);
  const p = parseArgs(args, {
    string: ["network", "ip", "hostname", "owner"],
    multi: ["publish", "add-host", "alias"],
    boolean: ["json", "help"],
    alias: { h: "help", p: "publish" },
  });
  if (flag(p, "help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const allowed: Record<string, string[]> = {
    create: ["network", "ip", "hostname", "owner", "publish", "add-host", "alias", "json"],
    attach: ["network", "ip", "alias", "json"],
    detach: ["network"],
  };
  for (const [k, v] of Object.entries(p.opts)) {
    if (v === undefined || v === false || k === "h" || k === "p" || k === "help") continue;
    if (!(allowed[verb ?? ""] ?? []).includes(k)) {
      const who = Object.keys(allowed).filter((a) => allowed[a]!.includes(k));
      throw new UsageError(`--${k} needs ${who.map((w) => `'${w}'`).join(" or ")}`);
    }
  }
  switch (verb) {
    case "create": {
      const name = one(p.rest, "endpoint name");
      const owner = str(p, "owner");
      if (owner !== undefined && !/^\d+$/.test(owner)) throw new UsageError(`--owner '${owner}': a pid`);
      let ep;
      try {
        ep = await createEndpoint({
          name,
          network: str(p, "network"),
          ip: str(p, "ip"),
          publish: list(p, "publish"),
          hostname: str(p, "hostname"),
          extraHosts: list(p, "add-host").map(addHost),
          aliases: list(p, "alias"),
          owner: owner === undefined ? undefined : Number(owner),
        });
      } catch (err) {
        usage(err);
      }
      process.stdout.write(flag(p, "json") ? JSON.stringify(ep, null, 2) + "\n" : `${ep.netnsPath}\n`);
      return 0;
    }
    case "attach": {
      const name = one(p.rest, "endpoint name");
      const network = str(p, "network");
      if (network === undefined) throw new UsageError("attach needs --network");
      let at;
      try {
        at = attachEndpoint({ name, network, ip: str(p, "ip"), aliases: list(p, "alias") });
      } catch (err) {
        usage(err);
      }
      process.stdout.write(flag(p, "json") ? JSON.stringify(at, null, 2) + "\n" : `${at.iface}\n`);
      return 0;
    }
    case "detach": {
      const name = one(p.rest, "endpoint name");
      const network = str(p, "network");
      if (network === undefined) throw new UsageError("detach needs --network");
      process.stdout.write(`${detachEndpoint(name, network).iface}\n`);
      return 0;
    }
    case "rm": {
      if (!p.rest.length) throw new UsageError("missing endpoint name");
      let code = 0;
      for (const name of p.rest) {
        if (removeEndpoint(name)) process.stdout.write(`${name}\n`);
        else {
          process.stderr.write(`netns-bridge: endpoint ${name} not found\n`);
          code = 1;
        }
      }
      return code;
    }
    case "inspect": {
      const name = one(p.rest, "endpoint name");
      const ep = inspectEndpoint(name);
      if (!ep) throw new Error(`endpoint ${name} not found`);
      process.stdout.write(JSON.stringify({ ...ep, ports: ep.publish.map(formatMapping) }, null, 2) + "\n");
      return 0;
    }
    case "hosts": {
      const name = one(p.rest, "endpoint name");
      const c = config();
      const nets = listNetworks(c);
      if (!findEndpoint(c, name, nets)) throw new Error(`endpoint ${name} not found`);
      process.stdout.write(hostsFor(nets, name));
      return 0;
    }
    case "gc": {
      if (p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]}'`);
      for (const line of gc()) process.stdout.write(`${line}\n`);
      return 0;
    }
    case undefined:
      throw new UsageError("missing command (create, attach, detach, rm, inspect, hosts, network, gc)");
    default:
      throw new UsageError(`unknown command '${verb}'`);
  }
}

export const netnsBridge: Tool = { name: "netns-bridge", run };
