import { libc } from "./libc.js";
import { check } from "./check.js";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFINDEX = 0x8933;
const SIOCBRADDIF = 0x89a2;
const IFNAMSIZ = 16;

function ifreq(name: string): Buffer {
  // struct ifreq: char ifr_name[IFNAMSIZ], then a 24-byte union (ifr_ifindex is its first int).
  const ifr = Buffer.alloc(40);
  ifr.write(name, 0, IFNAMSIZ - 1, "utf8");
  return ifr;
}

function withSocket<T>(f: (fd: number) => T): T {
  const fd = check(libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", () => "AF_INET");
  try {
    return f(fd);
  } finally {
    libc.close(fd);
  }
}

/** The index of interface `name` in the calling thread's network namespace. */
export function ifIndex(name: string): number {
  return withSocket((fd) => {
    const ifr = ifreq(name);
    check(libc.ioctl(fd, SIOCGIFINDEX, "void *", ifr), "ioctl", () => `SIOCGIFINDEX ${name}`);
    return ifr.readInt32LE(IFNAMSIZ);
  });
}

/**
 * Attach interface `port` to bridge `bridge` (what `ip link set PORT master
 * BRIDGE` does over netlink); the bridge ioctl needs no netlink socket.
 */
export function bridgeAddIf(bridge: string, port: string): void {
  const index = ifIndex(port);
  withSocket((fd) => {
    const ifr = ifreq(bridge);
    ifr.writeInt32LE(index, IFNAMSIZ);
    check(libc.ioctl(fd, SIOCBRADDIF, "void *", ifr), "ioctl", () => `SIOCBRADDIF ${bridge} ${port}`);
  });
}
