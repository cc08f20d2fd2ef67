import { libc } from "./libc.js";
import { check } from "./check.js";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/**
 * Bring an interface up in the calling thread's network namespace (a new
 * namespace starts with `lo` down). ioctl on a socket is enough for this and
 * needs no netlink.
 */
export function linkUp(name: string): void {
  const fd = check(libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", () => "AF_INET");
  try {
    const ifr = Buffer.alloc(40);
    ifr.write(name, 0, 15, "utf8");
    check(libc.ioctl(fd, SIOCGIFFLAGS, "void *", ifr), "ioctl", () => `SIOCGIFFLAGS ${name}`);
    ifr.writeUInt16LE(ifr.readUInt16LE(16) | IFF_UP, 16);
    check(libc.ioctl(fd, SIOCSIFFLAGS, "void *", ifr), "ioctl", () => `SIOCSIFFLAGS ${name}`);
  } finally {
    libc.close(fd);
  }
}
