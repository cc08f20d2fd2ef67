import { CLONE } from "@box/sys";

/** The namespace kinds, in the order they are joined (user first, mount last but one, as nsenter). */
export const NAMESPACES = [
  { kind: "user", flag: CLONE.NEWUSER, proc: "user" },
  { kind: "cgroup", flag: CLONE.NEWCGROUP, proc: "cgroup" },
  { kind: "ipc", flag: CLONE.NEWIPC, proc: "ipc" },
  { kind: "uts", flag: CLONE.NEWUTS, proc: "uts" },
  { kind: "net", flag: CLONE.NEWNET, proc: "net" },
  { kind: "pid", flag: CLONE.NEWPID, proc: "pid" },
  { kind: "mount", flag: CLONE.NEWNS, proc: "mnt" },
] as const;

export type NamespaceKind = (typeof NAMESPACES)[number]["kind"];

export function namespaceByKind(kind: string): (typeof NAMESPACES)[number] | undefined {
  return NAMESPACES.find((n) => n.kind === kind || n.proc === kind);
}
