import { parseIp } from "./ipv4.js";

export type Proto = "tcp" | "udp";

/** One published port: traffic to hostIp:hostPort goes to the container's containerPort. */
export interface PortMapping {
  /** "0.0.0.0" for every local address (Docker's default). */
  hostIp: string;
  /** 0: any free port, chosen when the endpoint is created. */
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

function range(what: string, s: string, spec: string, allowZero: boolean): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  const ok = (n: number) => n <= 65535 && (n >= 1 || (allowZero && n === 0));
  if (!m || !ok(lo) || !ok(hi)) throw new Error(`invalid ${what} '${s}' in '${spec}': ports are 1-65535`);
  if (hi < lo) throw new Error(`invalid ${what} '${s}' in '${spec}': range ends before it starts`);
  return [lo, hi];
}

/**
 * Docker's -p syntax: [IP:][HOSTPORT:]CPORT[/tcp|udp], each port may be a
 * range (8000-8001:80-81). A missing host port means any free one. Ranges
 * are expanded to one mapping per port.
 */
export function parsePublish(spec: string): PortMapping[] {
  let body = spec;
  let proto: Proto = "tcp";
  const slash = spec.lastIndexOf("/");
  if (slash >= 0) {
    const p = spec.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") throw new Error(`invalid protocol '${p}' in '${spec}': tcp or udp`);
    proto = p;
    body = spec.slice(0, slash);
  }
  const parts = body.split(":");
  if (parts.length > 3 || body === "") throw new Error(`invalid port mapping '${spec}': [IP:][HOSTPORT:]CPORT[/PROTO]`);
  const cport = parts[parts.length - 1]!;
  const hport = parts.length >= 2 ? parts[parts.length - 2]! : "";
  const hostIp = parts.length === 3 ? parts[0]! : "0.0.0.0";
  if (parseIp(hostIp) === null) throw new Error(`invalid host address '${hostIp}' in '${spec}'`);
  const [clo, chi] = range("container port", cport, spec, false);
  const [hlo, hhi] = hport === "" ? [0, 0] : range("host port", hport, spec, false);
  const n = chi - clo + 1;
  if (hport !== "" && hhi - hlo + 1 !== n) {
    throw new Error(`invalid port mapping '${spec}': host and container ranges differ in length`);
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < n; i++) out.push({ hostIp, hostPort: hport === "" ? 0 : hlo + i, containerPort: clo + i, proto });
  return out;
}

export function formatMapping(m: PortMapping): string {
  return `${m.hostIp}:${m.hostPort}->${m.containerPort}/${m.proto}`;
}
