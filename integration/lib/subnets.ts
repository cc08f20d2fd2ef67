// IPv4 subnets for tests that make networks: ones no route of the host, and no earlier call in
// this test file, uses.
import { spawnSync } from "node:child_process";

export function ipToNum(s: string): number {
  return s.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

const usedSubnets = new Set<string>();

/** A /24 in 10.200-250.x.0 that no route of the host and no earlier call uses. */
export function freeSubnet(): string {
  const routes = (JSON.parse(spawnSync("ip", ["-j", "-4", "route", "show", "table", "all"], { encoding: "utf8" }).stdout) as { dst: string }[])
    .map((r) => r.dst)
    .filter((d) => d !== "default")
    .map((d) => {
      const [a, p] = d.split("/");
      return { base: ipToNum(a!), prefix: Number(p ?? 32) };
    });
  for (let i = 0; i < 1000; i++) {
    const s = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0`;
    const n = ipToNum(s);
    const clash = routes.some((r) => {
      const p = Math.min(r.prefix, 24);
      const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
      return ((r.base & m) >>> 0) === ((n & m) >>> 0);
    });
    if (!clash && !usedSubnets.has(s)) {
      usedSubnets.add(s);
      return `${s}/24`;
    }
  }
  throw new Error("no free /24 in 10.200-250.0.0");
}

/** Whether `ip` is inside `subnet` (a.b.c.d/N). */
export function inSubnet(ip: string, subnet: string): boolean {
  const [base, prefix] = subnet.split("/");
  const m = (0xffffffff << (32 - Number(prefix))) >>> 0;
  return ((ipToNum(ip) & m) >>> 0) === ((ipToNum(base!) & m) >>> 0);
}
