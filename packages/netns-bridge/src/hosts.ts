/**
 * Names on user networks come from managed /etc/hosts files, not a DNS
 * server: each endpoint has $BOX_RUN/netns/NAME.hosts, which box binds at
 * the container's /etc/hosts, and every join or leave rewrites the files of
 * the network's endpoints. No daemon has to stay up, nothing listens inside
 * the containers, and busybox, musl and glibc all read the file. The price:
 * no aliases resolved by other resolvers (dig), and a reader may catch a
 * rewrite half-done (Docker's files had the same).
 */
import { closeSync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { O } from "@box/sys";
import { DEFAULT_NETWORK, type Config } from "./config.js";
import { listNetworks, type Network } from "./state.js";

const BASE = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/**
 * The hosts file of endpoint `name`, from the networks it is on (its own and
 * those it is attached to): localhost, its own addresses, its --add-host
 * entries, and, on each user network, every other endpoint there by name
 * (and hostname and aliases). On the default network the others are reached
 * by address only, as on Docker's default bridge.
 */
export function hostsFor(networks: Network | Network[], name: string): string {
  const nets = (Array.isArray(networks) ? networks : [networks]).filter((n) => n.endpoints[name]);
  const mine = nets.map((n) => n.endpoints[name]!).sort((a, b) => (a.iface ?? "").localeCompare(b.iface ?? ""));
  const lines = [...BASE];
  const self = mine[0];
  if (self) {
    for (const ep of mine) {
      const names = [...new Set([ep.hostname, ep.name, ...(ep.aliases ?? [])].filter((n): n is string => !!n))];
      lines.push(`${ep.ip}\t${names.join(" ")}`);
    }
    for (const h of self.extraHosts) lines.push(`${h.ip}\t${h.host}`);
  }
  for (const net of nets) {
    if (net.name === DEFAULT_NETWORK) continue;
    for (const ep of Object.values(net.endpoints).sort((a, b) => a.name.localeCompare(b.name))) {
      if (ep.name === name) continue;
      const names = [...new Set([ep.name, ep.hostname, ...(ep.aliases ?? [])].filter((n): n is string => !!n))];
      lines.push(`${ep.ip}\t${names.join(" ")}`);
    }
  }
  return lines.join("\n") + "\n";
}

export function hostsPath(c: Config, name: string): string {
  return join(c.netnsDir, `${name}.hosts`);
}

/**
 * Rewrite a hosts file in place: it is bind-mounted into a running
 * container, and a rename would leave the container with the old inode.
 */
export function writeHosts(path: string, content: string): void {
  const fd = openSync(path, O.WRONLY | O.CREAT | O.CLOEXEC, 0o644);
  try {
    const buf = Buffer.from(content);
    writeSync(fd, buf, 0, buf.length, 0);
    ftruncateSync(fd, buf.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrite the hosts files of the endpoints on `net` (`only`: just these),
 * from the state on disk: an endpoint's file also lists the networks it is
 * attached to. Call holding the lock.
 */
export function refreshHosts(c: Config, net: Network, only?: string[]): void {
  const all = listNetworks(c);
  const now = all.find((n) => n.name === net.name) ?? net;
  for (const name of Object.keys(now.endpoints)) {
    if (only && !only.includes(name)) continue;
    writeHosts(hostsPath(c, name), hostsFor(all, name));
  }
}

export function removeHosts(c: Config, name: string): void {
  try {
    unlinkSync(hostsPath(c, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`unlink ${hostsPath(c, name)}`, { cause: err });
  }
}
