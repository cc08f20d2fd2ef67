/**
 * The networks and their address leases, one JSON file per network under
 * $BOX_ROOT/networks. Every read-modify-write happens under one flock(2) on
 * networks/.lock, and files are replaced by rename, so two processes never
 * hand out one address and a reader never sees half a file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { flock, LOCK, O } from "@box/sys";
import type { Config } from "./config.js";
import type { PortMapping } from "./publish.js";

export interface ExtraHost {
  host: string;
  ip: string;
}

export interface Endpoint {
  name: string;
  ip: string;
  mac: string;
  hostVeth: string;
  netnsPath: string;
  hostname?: string;
  /** More names for its address in the other endpoints' hosts files (box: the container's name). */
  aliases?: string[];
  extraHosts: ExtraHost[];
  publish: PortMapping[];
  /** The process whose life the endpoint follows (gc removes it once that is gone). */
  owner?: { pid: number; start: string };
  /** Set while the create (or attach) that leased it is still making the netns and veth. */
  pending?: { pid: number; start: string };
  /**
   * Set on an attachment: not an endpoint of its own but a further interface
   * (eth1, eth2, ...) in the netns of the endpoint of the same name on
   * another network. It lives and dies with that endpoint.
   */
  iface?: string;
  created: string;
}

export interface Network {
  name: string;
  id: string;
  driver: "bridge";
  bridge: string;
  subnet: string;
  gateway: string;
  created: string;
  endpoints: Record<string, Endpoint>;
}

function fileOf(c: Config, name: string): string {
  return join(c.networksDir, `${name}.json`);
}

/** Run `f` holding the networks lock. `f` is synchronous: the lock is held by this thread's blocking flock. */
export function withLock<T>(c: Config, f: () => T): T {
  mkdirSync(c.networksDir, { recursive: true, mode: 0o700 });
  const lock = join(c.networksDir, ".lock");
  const fd = openSync(lock, O.RDWR | O.CREAT | O.CLOEXEC, 0o600);
  try {
    flock(fd, LOCK.EX, lock);
    return f();
  } finally {
    closeSync(fd); // releases the lock
  }
}

export function readNetwork(c: Config, name: string): Network | undefined {
  let text: string;
  try {
    text = readFileSync(fileOf(c, name), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`read ${fileOf(c, name)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as Network;
  } catch (err) {
    throw new Error(`${fileOf(c, name)}: not JSON`, { cause: err });
  }
}

export function listNetworks(c: Config): Network[] {
  let names: string[];
  try {
    names = readdirSync(c.networksDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".json") && !n.startsWith("."))
    .sort()
    .map((n) => readNetwork(c, n.slice(0, -5)))
    .filter((n): n is Network => n !== undefined);
}

export function writeNetwork(c: Config, net: Network): void {
  const file = fileOf(c, net.name);
  const tmp = join(c.networksDir, `.${net.name}.json.${process.pid}`);
  const fd = openSync(tmp, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600);
  try {
    writeSync(fd, JSON.stringify(net, null, 2) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function deleteNetwork(c: Config, name: string): void {
  try {
    unlinkSync(fileOf(c, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`unlink ${fileOf(c, name)}`, { cause: err });
  }
}

/** The endpoint `name` itself (the one that owns the netns), not its attachments. */
export function findEndpoint(c: Config, name: string, nets = listNetworks(c)): { net: Network; ep: Endpoint } | undefined {
  for (const net of nets) {
    const ep = net.endpoints[name];
    if (ep && !ep.iface) return { net, ep };
  }
  return undefined;
}

/** Every lease of `name`: the endpoint and its attachments, network by network. */
export function leasesOf(c: Config, name: string, nets = listNetworks(c)): { net: Network; ep: Endpoint }[] {
  return nets.filter((net) => net.endpoints[name]).map((net) => ({ net, ep: net.endpoints[name]! }));
}
