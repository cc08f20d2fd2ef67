/**
 * The few rtnetlink requests box makes, in-process: a fork of `ip` costs a
 * Node process ~10 ms, and a process whose PID namespace for children has
 * lost its init (box run, once its container exited) cannot fork at all
 * (ENOMEM). Each request is one message and one ACK on a fresh
 * NETLINK_ROUTE socket of the calling thread's network namespace.
 */
import { libc, errno } from "./libc.js";
import { check, describe } from "./check.js";
import { SysError } from "./errno.js";
import { ifIndex } from "./netdev.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 0x2;
const AF_INET = 2;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

/** One rtattr: 4 bytes of header, the payload, padded to 4. */
function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const ipv4 = (ip: string) => Buffer.from(ip.split(".").map(Number));
const mac = (m: string) => Buffer.from(m.split(":").map((x) => parseInt(x, 16)));

/** struct ifinfomsg, all zero but the family (AF_UNSPEC) and, if given, the index. */
function ifinfomsg(index = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  return b;
}

/** Send one request and wait for its ACK; a negative error in it is thrown as SysError. */
function request(type: number, flags: number, body: Buffer, what: string): void {
  const fd = check(libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), "socket", () => "AF_NETLINK");
  try {
    const msg = Buffer.concat([Buffer.alloc(16), body]);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | flags, 6);
    msg.writeUInt32LE(1, 8);
    check(libc.send(fd, msg, msg.length, 0), "send", () => what);
    const ack = Buffer.alloc(4096);
    const n = Number(libc.recv(fd, ack, ack.length, 0));
    if (n < 0) throw new SysError("recv", errno(), what, describe);
    if (n < 20 || ack.readUInt16LE(4) !== NLMSG_ERROR) throw new Error(`${what}: unexpected netlink reply`);
    const err = -ack.readInt32LE(16);
    if (err !== 0) throw new SysError("netlink", err, what, describe);
  } finally {
    libc.close(fd);
  }
}

/**
 * A veth pair: `name` (with MAC `address`) in the calling thread's network
 * namespace, its peer `peer` in the namespace of the fd `peerNsFd`
 * (`ip link add NAME address MAC type veth peer name PEER netns FD`).
 */
export function addVeth(name: string, address: string, peer: string, peerNsFd: number): void {
  const peerInfo = Buffer.concat([ifinfomsg(), attr(IFLA_IFNAME, str(peer)), attr(IFLA_NET_NS_FD, u32(peerNsFd))]);
  const linkinfo = Buffer.concat([attr(IFLA_INFO_KIND, str("veth")), attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peerInfo))]);
  const body = Buffer.concat([ifinfomsg(), attr(IFLA_IFNAME, str(name)), attr(IFLA_ADDRESS, mac(address)), attr(IFLA_LINKINFO, linkinfo)]);
  request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, `RTM_NEWLINK veth ${name} peer ${peer}`);
}

/** An IPv4 address on a link (`ip addr add IP/PREFIX dev NAME`). */
export function addAddress(name: string, ip: string, prefixLen: number): void {
  const head = Buffer.alloc(8);
  head.writeUInt8(AF_INET, 0);
  head.writeUInt8(prefixLen, 1);
  head.writeUInt32LE(ifIndex(name), 4);
  const body = Buffer.concat([head, attr(IFA_LOCAL, ipv4(ip)), attr(IFA_ADDRESS, ipv4(ip))]);
  request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, `RTM_NEWADDR ${ip}/${prefixLen} dev ${name}`);
}

/** The default route via `gateway` out of link `name` (`ip route add default via GW dev NAME`). */
export function addDefaultRoute(gateway: string, name: string): void {
  const head = Buffer.alloc(12);
  head.writeUInt8(AF_INET, 0);
  head.writeUInt8(RT_TABLE_MAIN, 4);
  head.writeUInt8(RTPROT_BOOT, 5);
  head.writeUInt8(RT_SCOPE_UNIVERSE, 6);
  head.writeUInt8(RTN_UNICAST, 7);
  const body = Buffer.concat([head, attr(RTA_GATEWAY, ipv4(gateway)), attr(RTA_OIF, u32(ifIndex(name)))]);
  request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, `RTM_NEWROUTE default via ${gateway} dev ${name}`);
}

/**
 * Delete the link `name` in the calling thread's network namespace (a veth
 * takes its peer with it). Returns false if there is no such link.
 */
export function deleteLink(name: string): boolean {
  let index: number;
  try {
    index = ifIndex(name);
  } catch (e) {
    if (e instanceof SysError && e.code === "ENODEV") return false;
    throw e;
  }
  try {
    request(RTM_DELLINK, 0, ifinfomsg(index), `RTM_DELLINK ${name}`);
  } catch (e) {
    // Gone meanwhile (with its peer, or its netns).
    if (e instanceof SysError && e.code === "ENODEV") return false;
    throw e;
  }
  return true;
}
