/** Remove what a killed box or a killed create left behind, as far as the state files can tell. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { config, vethName } from "./config.js";
import { alive } from "./endpoint.js";
import { refreshHosts, removeHosts } from "./hosts.js";
import { linkDelete } from "./ip.js";
import { mountsUnder, removeNetns } from "./netns.js";
import { syncNft } from "./network.js";
import { listNetworks, withLock, writeNetwork, type Endpoint, type Network } from "./state.js";

/**
 * An endpoint is left behind when its owner process is gone, or (without an
 * owner) when its netns file is no longer mounted; a lease still being made
 * by a live create is not touched. An attachment goes with its endpoint (or
 * when the attach that made it died). Netns and hosts files without a lease go
 * too, with the veth named after them. Links not named by this BOX_RUN are
 * never touched: they may belong to another box. The nftables table is
 * rewritten from what remains. Returns one line per thing removed.
 */
export function gc(env: NodeJS.ProcessEnv = process.env): string[] {
  const c = config(env);
  const removed: string[] = [];
  return withLock(c, () => {
    const mounts = mountsUnder(c.netnsDir);
    const nets = listNetworks(c);
    const leased = new Set<string>();
    const changed = new Set<string>();
    const drop = (net: Network, ep: Endpoint, why: string) => {
      linkDelete(ep.hostVeth, `gc ${ep.name}`);
      delete net.endpoints[ep.name];
      changed.add(net.name);
      removed.push(`${ep.iface ? `attachment ${ep.iface} of ${ep.name}` : `endpoint ${ep.name}`} on ${net.name}: ${why}`);
    };
    for (const net of nets) {
      for (const ep of Object.values(net.endpoints) as Endpoint[]) {
        if (ep.iface) continue;
        let why: string | undefined;
        if (ep.pending) why = alive(ep.pending) ? undefined : `its create (pid ${ep.pending.pid}) died`;
        else if (ep.owner) why = alive(ep.owner) ? undefined : `owner pid ${ep.owner.pid} is gone`;
        else why = mounts.has(ep.netnsPath) ? undefined : "its netns is not mounted";
        if (why === undefined) {
          leased.add(ep.name);
          continue;
        }
        drop(net, ep, why);
        removeNetns(ep.netnsPath);
        removeHosts(c, ep.name);
      }
    }
    // Attachments live and die with their endpoint.
    for (const net of nets) {
      for (const ep of Object.values(net.endpoints) as Endpoint[]) {
        if (!ep.iface) continue;
        if (ep.pending) {
          if (!alive(ep.pending)) drop(net, ep, `its attach (pid ${ep.pending.pid}) died`);
        } else if (!leased.has(ep.name)) drop(net, ep, `endpoint ${ep.name} is gone`);
      }
    }
    const touched = nets.filter((n) => changed.has(n.name));
    for (const net of touched) writeNetwork(c, net);
    for (const net of touched) refreshHosts(c, net);
    let files: string[] = [];
    try {
      files = readdirSync(c.netnsDir);
    } catch {
      // no netns dir: nothing was ever made here
    }
    for (const f of files) {
      if (f.endsWith(".hosts")) {
        const name = f.slice(0, -6);
        if (!leased.has(name)) {
          removeHosts(c, name);
          removed.push(`hosts file ${join(c.netnsDir, f)}: no lease`);
        }
        continue;
      }
      if (leased.has(f)) continue;
      const path = join(c.netnsDir, f);
      linkDelete(vethName(path), `gc ${f}`);
      removeNetns(path);
      removed.push(`netns ${path}: no lease`);
    }
    syncNft(c, "gc: nftables");
    return removed;
  });
}
