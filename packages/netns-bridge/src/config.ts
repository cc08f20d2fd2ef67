/** Where netns-bridge keeps state and how it names what it makes in the kernel. */
import { createHash } from "node:crypto";
import { join } from "node:path";

export const DEFAULT_NETWORK = "box0";
/** Names `box run --network` gives other meanings; no network may take them. */
export const RESERVED = ["none", "host", "bridge", "default", "container"];

export interface Config {
  /** $BOX_ROOT/networks: one NAME.json per network, and the lock. */
  networksDir: string;
  /** $BOX_RUN/netns: the netns files and the managed hosts files. */
  netnsDir: string;
  /** The nftables table, family ip (BOX_NFT_TABLE, default box). */
  table: string;
  /** BOX_BRIDGE_PREFIX: user bridges are PREFIX<id>, the default one PREFIX0. */
  bridgePrefix: string | undefined;
}

export function config(env: NodeJS.ProcessEnv = process.env): Config {
  const root = env.BOX_ROOT || "/var/lib/box";
  const run = env.BOX_RUN || "/run/box";
  const table = env.BOX_NFT_TABLE || "box";
  if (!/^[A-Za-z][\w-]{0,63}$/.test(table)) throw new Error(`BOX_NFT_TABLE '${table}': not an nftables table name`);
  const prefix = env.BOX_BRIDGE_PREFIX || undefined;
  if (prefix !== undefined && !/^[a-z][a-z0-9-]{0,7}$/.test(prefix)) {
    throw new Error(`BOX_BRIDGE_PREFIX '${prefix}': 1-8 characters, a-z 0-9 and -`);
  }
  return { networksDir: join(root, "networks"), netnsDir: join(run, "netns"), table, bridgePrefix: prefix };
}

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export function bridgeName(c: Config, network: string, id: string): string {
  if (network === DEFAULT_NETWORK) return c.bridgePrefix ? `${c.bridgePrefix}0` : DEFAULT_NETWORK;
  return `${c.bridgePrefix ?? "br-"}${id}`.slice(0, 15);
}

/** The host end of an endpoint's veth: vb- and a hash of the netns path, so names from two BOX_RUNs never meet. */
export function vethName(netnsPath: string): string {
  return `vb-${createHash("sha256").update(netnsPath).digest("hex").slice(0, 11)}`;
}

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
