/** IPv4 addresses as unsigned 32-bit numbers, and CIDR arithmetic on them. */

export interface Cidr {
  /** The network address (host bits cleared). */
  base: number;
  prefix: number;
}

export function parseIp(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let n = 0;
  for (const part of m.slice(1)) {
    // No leading zeros: inet_aton would read 010 as octal.
    if (part.length > 1 && part.startsWith("0")) return null;
    const v = Number(part);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.1.2.0/24`; host bits must be zero unless `loose` (routes print them clean anyway). */
export function parseCidr(s: string, loose = false): Cidr | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return null;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 32) return null;
  const base = (ip & mask(prefix)) >>> 0;
  if (!loose && base !== ip) return null;
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function broadcast(c: Cidr): number {
  return c.base + size(c) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** Whether `ip` may be given to a host in `c`: not the network or broadcast address. */
export function isHost(c: Cidr, ip: number): boolean {
  return contains(c, ip) && ip !== c.base && ip !== broadcast(c);
}

/** A locally administered MAC derived from the address, as Docker does (02:42:ac:11:00:02). */
export function macFor(ip: number): string {
  const b = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}
