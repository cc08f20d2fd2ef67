/** `box images`, `box rmi`, `box import`: thin views of mkroot's store. */
import { createReadStream } from "node:fs";
import { parseArgs, flag, list, str, UsageError, ExitError } from "@box/cli";
import { Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { humanAgo, humanSize, table } from "../format.js";

export async function imagesCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const p = parseArgs(argv, { boolean: ["quiet", "no-trunc"], string: ["format"], alias: { q: "quiet" } });
  const images = await new Store(paths.root).list();
  const rows: { repo: string; tag: string; id: string; created?: string; size: number }[] = [];
  for (const img of images) {
    const names = img.names.length ? img.names : ["<none>:<none>"];
    for (const n of names) {
      const i = n.lastIndexOf(":");
      rows.push({ repo: n.slice(0, i), tag: n.slice(i + 1), id: img.id, created: img.created, size: img.size });
    }
  }
  const short = (id: string) => (flag(p, "no-trunc") ? id : id.replace(/^sha256:/, "").slice(0, 12));
  if (flag(p, "quiet")) {
    process.stdout.write([...new Set(rows.map((r) => short(r.id)))].map((x) => x + "\n").join(""));
    return 0;
  }
  if (str(p, "format") === "json") {
    for (const r of rows)
      process.stdout.write(JSON.stringify({ Repository: r.repo, Tag: r.tag, ID: short(r.id), CreatedAt: r.created ?? "", Size: humanSize(r.size) }) + "\n");
    return 0;
  }
  if (str(p, "format") !== undefined) throw new UsageError(`unsupported --format '${str(p, "format")}' (json is supported)`);
  process.stdout.write(
    table([["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], ...rows.map((r) => [r.repo, r.tag, short(r.id), humanAgo(r.created), humanSize(r.size)])]),
  );
  return 0;
}

export async function rmiCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const p = parseArgs(argv, { boolean: ["force"], alias: { f: "force" } });
  if (p.rest.length === 0) throw new UsageError('"box rmi" requires at least 1 argument');
  const store = new Store(paths.root);
  let code = 0;
  for (const ref of p.rest) {
    try {
      for (const line of await store.remove(ref)) process.stdout.write(line + "\n");
    } catch (e) {
      process.stderr.write(`box: Error response from daemon: ${(e as Error).message}\n`);
      code = 1;
    }
  }
  return code;
}

/** box import [--change INSTR]... [--message MSG] FILE|- [REPOSITORY[:TAG]] */
export async function importCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const p = parseArgs(argv, { string: ["message"], multi: ["change"], alias: { c: "change", m: "message" } });
  const [file, name] = p.rest;
  if (!file) throw new UsageError('"box import" requires at least 1 argument');
  const input = file === "-" ? process.stdin : createReadStream(file);
  try {
    const img = await new Store(paths.root).importTar(name ?? "", input, { changes: list(p, "change"), message: str(p, "message") });
    process.stdout.write(img.id + "\n");
  } catch (e) {
    throw new ExitError(`import ${file}`, 1, { cause: e });
  }
  return 0;
}
