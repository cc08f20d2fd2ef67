/**
 * box's own nftables table. Every change rewrites the whole table from the
 * state files in one `nft -f -` transaction (add, delete, define): the kernel
 * applies all of it or none, nothing else's tables are read or touched, and
 * there are no rule handles to keep in step with the state.
 */
import { spawnSync } from "node:child_process";
import type { Network } from "./state.js";

const NFT = process.env.BOX_NFT_COMMAND || "nft";

const q = (s: string) => JSON.stringify(s);

/** The script that makes `table ip TABLE` say exactly what `networks` need (or removes it). */
export function render(table: string, networks: Network[]): string {
  const lines = [`add table ip ${table}`, `delete table ip ${table}`];
  if (networks.length === 0) return lines.join("\n") + "\n";
  const publish: string[] = [];
  const post: string[] = [];
  const forward: string[] = [];
  const bridges = networks.map((n) => n.bridge);
  for (const net of networks) {
    const br = q(net.bridge);
    // Outbound NAT: the subnet leaving by any interface but its own bridge.
    post.push(`ip saddr ${net.subnet} oifname != ${br} masquerade comment ${q(`network ${net.name}`)}`);
    // Published ports reached from the host itself (127.0.0.1): route_localnet lets a
    // loopback source out of the bridge; this gives the container an address to answer.
    post.push(`ip saddr 127.0.0.0/8 oifname ${br} masquerade comment ${q(`localhost to ${net.name}`)}`);
    // Hairpin: a container reaching a published port of a neighbour through a host address.
    post.push(`ip saddr ${net.subnet} oifname ${br} ct status dnat masquerade comment ${q(`hairpin ${net.name}`)}`);
    const others = bridges.filter((b) => b !== net.bridge);
    if (others.length > 0) {
      forward.push(`iifname ${br} oifname { ${others.map(q).join(", ")} } drop comment ${q(`isolate ${net.name}`)}`);
    }
    for (const ep of Object.values(net.endpoints).sort((a, b) => a.name.localeCompare(b.name))) {
      for (const m of ep.publish) {
        const daddr = m.hostIp === "0.0.0.0" ? "" : `ip daddr ${m.hostIp} `;
        publish.push(`${daddr}${m.proto} dport ${m.hostPort} dnat to ${ep.ip}:${m.containerPort} comment ${q(ep.name)}`);
      }
    }
  }
  const chain = (name: string, head: string | null, rules: string[]) =>
    [`\tchain ${name} {`, ...(head ? [`\t\t${head}`] : []), ...rules.map((r) => `\t\t${r}`), "\t}"];
  lines.push(
    `table ip ${table} {`,
    ...chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["fib daddr type local jump publish"]),
    ...chain("output", "type nat hook output priority -100; policy accept;", ["fib daddr type local jump publish"]),
    ...chain("publish", null, publish),
    ...chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post),
    ...chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    "}",
  );
  return lines.join("\n") + "\n";
}

export function apply(script: string, what: string): void {
  const r = spawnSync(NFT, ["-f", "-"], { input: script, encoding: "utf8" });
  if (r.error) throw new Error(`${what}: spawn ${NFT}`, { cause: r.error });
  if (r.status !== 0) {
    const msg = r.stderr.split("\n").find((l) => /Error/.test(l)) ?? r.stderr.trim();
    throw new Error(`${what}: ${NFT} -f -: ${msg || `exit status ${r.status}`}`);
  }
}

/** Whether `table ip TABLE` exists. */
export function tableExists(table: string): boolean {
  return spawnSync(NFT, ["list", "table", "ip", table], { stdio: "ignore" }).status === 0;
}
