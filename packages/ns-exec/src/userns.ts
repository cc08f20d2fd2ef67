/**
 * A user namespace that holds only a mapping, for idmapped mounts:
 * mount_setattr(MOUNT_ATTR_IDMAP) takes the mapping from a user namespace
 * fd, and the overlay of a remapped container must be mounted before its
 * own user namespace exists (ns-init makes that one later, from the prepared
 * tree). Node cannot make a user namespace itself (it is multithreaded), so
 * ns-init does, and is killed before it runs anything: the open fd keeps
 * the namespace alive.
 */
import { spawn } from "node:child_process";
import { openSync, writeFileSync } from "node:fs";
import { O } from "@box/sys";
import type { IdMap } from "./options.js";
import { NS_INIT } from "./stage.js";

export function formatIdMap(m: IdMap[]): string {
  return m.map((x) => `${x.inside} ${x.outside} ${x.count}\n`).join("");
}

/** Write uid_map and gid_map of `pid` (the gid map defaults to the uid map). */
export function writeIdMaps(pid: number, uidMap: IdMap[], gidMap: IdMap[]): void {
  writeFileSync(`/proc/${pid}/uid_map`, formatIdMap(uidMap));
  writeFileSync(`/proc/${pid}/gid_map`, formatIdMap(gidMap.length ? gidMap : uidMap));
}

/** Open a new user namespace with these maps; the caller closes the fd. Costs one ns-init start (~3 ms). */
export async function openMappedUserns(uidMap: IdMap[], gidMap: IdMap[]): Promise<number> {
  // "-Y": unshare(CLONE_NEWUSER), say "U" on fd 4, then wait on fd 3 for a
  // "go" that never comes. The command is never run.
  const child = spawn(NS_INIT, ["-e", "4", "-s", "-Y", "--", "/nonexistent"], {
    stdio: ["ignore", "ignore", "inherit", "pipe", "pipe"],
    argv0: "ns-init",
  });
  const exited = new Promise<void>((r) => {
    child.on("exit", () => r());
    child.on("error", () => r());
  });
  let spawnError: Error | undefined;
  child.on("error", (e) => (spawnError = e));
  const status = child.stdio[4] as NodeJS.ReadableStream;
  const line = await new Promise<string>((resolve) => {
    let buf = "";
    status.setEncoding("utf8");
    status.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
    status.on("end", () => resolve(buf));
    status.on("error", () => resolve(buf));
  });
  try {
    if (spawnError) throw new Error(`spawn ${NS_INIT}: ${spawnError.message}`);
    if (line !== "U") throw new Error(`ns-init: ${line.replace(/^E \d+ /, "") || "exited before making a user namespace"}`);
    const pid = child.pid!;
    writeIdMaps(pid, uidMap, gidMap);
    return openSync(`/proc/${pid}/ns/user`, O.RDONLY | O.CLOEXEC);
  } finally {
    child.kill("SIGKILL");
    (child.stdio[3] as unknown as { destroy(): void }).destroy();
    (status as unknown as { destroy(): void }).destroy();
    await exited;
  }
}
