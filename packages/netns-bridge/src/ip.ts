/**
 * iproute2 for the link and address work. `ip -batch -` does a whole step in
 * one process; writing our own rtnetlink encoder would save a fork or two but
 * ip(8) is part of every host this runs on and its errors are readable.
 */
import { spawnSync, type StdioOptions } from "node:child_process";
import { SysError, deleteLink, ifIndex } from "@box/sys";
import { parseCidr, type Cidr } from "./ipv4.js";

const IP = process.env.BOX_IP_COMMAND || "ip";

function run(args: string[], input: string | undefined, what: string, extraFd?: number): string {
  const stdio: StdioOptions = ["pipe", "pipe", "pipe"];
  if (extraFd !== undefined) stdio.push(extraFd);
  const r = spawnSync(IP, args, { input, encoding: "utf8", stdio });
  if (r.error) throw new Error(`${what}: spawn ${IP}`, { cause: r.error });
  if (r.status !== 0) {
    // ip -batch says "Command failed -:N" after the real message; keep the real one.
    const msg = r.stderr.split("\n").filter((l) => l && !/^Command failed/.test(l)).join("; ");
    throw new Error(`${what}: ${IP} ${args.join(" ")}: ${msg || `exit status ${r.status}`}`);
  }
  return r.stdout;
}

/** Run `lines` with `ip -batch -`. `extraFd` becomes fd 3 of ip (e.g. a netns to move a link into). */
export function ipBatch(lines: string[], what: string, extraFd?: number): void {
  run(["-batch", "-"], lines.join("\n") + "\n", what, extraFd);
}

export function ip(args: string[], what: string): string {
  return run(args, undefined, what);
}

/** Every IPv4 route in every table of the caller's netns, with the device it goes out of. */
export function routes(): { dst: Cidr; dev: string; text: string }[] {
  const out = JSON.parse(ip(["-j", "-4", "route", "show", "table", "all"], "list routes") || "[]") as { dst: string; dev?: string; type?: string }[];
  const list: { dst: Cidr; dev: string; text: string }[] = [];
  for (const r of out) {
    if (r.dst === "default" || r.type === "broadcast" || r.type === "multicast") continue;
    const dst = parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`, true);
    if (dst) list.push({ dst, dev: r.dev ?? "", text: `${r.dst}${r.dev ? ` dev ${r.dev}` : ""}` });
  }
  return list;
}

/** Names of the links in the caller's netns. */
export function links(): { name: string; kind?: string }[] {
  const out = JSON.parse(ip(["-j", "-d", "link", "show"], "list links") || "[]") as { ifname: string; linkinfo?: { info_kind?: string } }[];
  return out.map((l) => ({ name: l.ifname, kind: l.linkinfo?.info_kind }));
}

/** Whether a link of that name is in this thread's network namespace (an ioctl: no `ip` to start). */
export function linkExists(name: string): boolean {
  try {
    ifIndex(name);
    return true;
  } catch (e) {
    if (e instanceof SysError && e.code === "ENODEV") return false;
    throw e;
  }
}

/** Delete a link; a link already gone is no error. Over netlink: no `ip` to start (see deleteLink). */
export function linkDelete(name: string, what: string): void {
  try {
    deleteLink(name);
  } catch (e) {
    throw new Error(`${what}: delete link ${name}`, { cause: e });
  }
}
