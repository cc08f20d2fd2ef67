import { libc } from "./libc.js";
import { check } from "./check.js";
import { errno } from "./libc.js";

const ENODATA = 61;

/** lgetxattr(2): the value, or null when the attribute is absent. */
export function lgetxattr(path: string, name: string): Buffer | null {
  const buf = Buffer.alloc(4096);
  const n = Number(libc.lgetxattr(path, name, buf, buf.length));
  if (n < 0) {
    if (errno() === ENODATA) return null;
    check(n, "lgetxattr", () => `${path} ${name}`);
  }
  return buf.subarray(0, n);
}

export function lsetxattr(path: string, name: string, value: Buffer | string, flags = 0): void {
  const v = typeof value === "string" ? Buffer.from(value) : value;
  check(libc.lsetxattr(path, name, v, v.length, flags), "lsetxattr", () => `${path} ${name}`);
}

export function llistxattr(path: string): string[] {
  const buf = Buffer.alloc(65536);
  const n = check(libc.llistxattr(path, buf, buf.length), "llistxattr", () => path);
  return buf.subarray(0, n).toString("utf8").split("\0").filter(Boolean);
}
