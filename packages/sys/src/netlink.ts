/**
 * The one rtnetlink request box makes: delete a link. `ip link del` would
 * need a fork, and a process whose PID namespace for children has lost its
 * init (box run, once its container exited) cannot fork at all (ENOMEM).
 */
import { libc, errno } from "./libc.js";
import { check, describe } from "./check.js";
import { SysError } from "./errno.js";
import { ifIndex } from "./netdev.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const RTM_DELLINK = 17;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLMSG_ERROR = 0x2;

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
  const fd = check(libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), "socket", () => "AF_NETLINK");
  try {
    // struct nlmsghdr (16 bytes) + struct ifinfomsg (16 bytes).
    const req = Buffer.alloc(32);
    req.writeUInt32LE(32, 0);
    req.writeUInt16LE(RTM_DELLINK, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
    req.writeUInt32LE(1, 8);
    req.writeInt32LE(index, 20);
    check(libc.send(fd, req, req.length, 0), "send", () => `RTM_DELLINK ${name}`);
    const ack = Buffer.alloc(1024);
    const n = Number(libc.recv(fd, ack, ack.length, 0));
    if (n < 0) throw new SysError("recv", errno(), `RTM_DELLINK ${name}`, describe);
    if (n < 20 || ack.readUInt16LE(4) !== NLMSG_ERROR) throw new Error(`RTM_DELLINK ${name}: unexpected netlink reply`);
    const err = -ack.readInt32LE(16);
    if (err === 19 /* ENODEV: gone meanwhile */) return false;
    if (err !== 0) throw new SysError("RTM_DELLINK", err, name, describe);
    return true;
  } finally {
    libc.close(fd);
  }
}
