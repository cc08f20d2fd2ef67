// What the network test files share: a harness per test whose networks must all be gone after
// it, the kernel state that proves it, and a busybox web server to reach.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { expectOk, formatLeaks, harness, importBusybox, leaks, type Harness } from "./harness.js";

/** Whether this host has what box's bridge networks need: iproute2 and nftables (CI's machines do). */
export function hostCanBridge(): boolean {
  return ["ip", "nft"].every((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
}

export function links(): { ifname: string; master?: string }[] {
  return JSON.parse(spawnSync("ip", ["-j", "link", "show"], { encoding: "utf8" }).stdout) as { ifname: string; master?: string }[];
}

/** What h has in the kernel: its bridges, veths on them, its nftables table, its netns files. */
export function networkState(h: Harness): { bridges: string[]; veths: string[]; table: boolean; netns: string[] } {
  const prefix = h.env.BOX_BRIDGE_PREFIX!;
  const all = links();
  const bridges = all.filter((l) => l.ifname.startsWith(prefix)).map((l) => l.ifname);
  const veths = all.filter((l) => l.master && bridges.includes(l.master)).map((l) => l.ifname);
  const tables = spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout.split("\n");
  const dir = join(h.runDir, "netns");
  return { bridges, veths, table: tables.includes(`table ip ${h.env.BOX_NFT_TABLE}`), netns: existsSync(dir) ? readdirSync(dir) : [] };
}

/**
 * A test with its own harness and busybox (and whatever `setup` makes first); afterwards no
 * container endpoint may remain, and once its networks are removed, nothing of them.
 */
export async function withBox(fn: (h: Harness) => Promise<void>, setup: (h: Harness) => Promise<void> = async () => {}): Promise<void> {
  const h = await harness();
  try {
    await importBusybox(h);
    await setup(h);
    await fn(h);
    expect(formatLeaks(leaks(h))).toBe("");
    expect(networkState(h).veths).toEqual([]);
    expect(networkState(h).netns).toEqual([]);
    // Networks go with their last container; what is left is removed by name.
    const nets = expectOk(await h.box("network", "ls", "--format", "{{.Name}}")).stdout.split("\n").filter(Boolean);
    if (nets.length) expectOk(await h.box("network", "rm", ...nets));
    expect(networkState(h)).toEqual({ bridges: [], veths: [], table: false, netns: [] });
  } catch (e) {
    // The test's own failure first; the cleanup's leak report would hide it.
    await h.cleanup().catch(() => {});
    throw e;
  }
  await h.cleanup();
}

export const HTTPD = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"];

export async function ipOf(h: Harness, ref: string): Promise<string> {
  const ip = expectOk(await h.box("inspect", "-f", "{{.NetworkSettings.IPAddress}}", ref)).stdout.trim();
  expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  return ip;
}
