// Helpers for the unit tests (not built into dist): tars made in memory, private temp roots,
// and a snapshot of a directory tree to prove that nothing outside a layer changed.
import { lstatSync, readdirSync, readlinkSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pack, type Header } from "tar-stream";

export type Headers = Partial<Header> & Pick<Header, "name">;

export interface TarItem {
  header: Headers;
  data?: string | Buffer;
}

/** A tar built with tar-stream, entries in the order given. */
export async function makeTar(items: TarItem[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  for (const { header, data } of items) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const h: Headers = { mode: header.type === "directory" ? 0o755 : 0o644, mtime: new Date(1_600_000_000_000), uid: 0, gid: 0, ...header };
      if (data !== undefined) p.entry(h, data, cb);
      else p.entry(h, cb).end(undefined);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function stream(buf: Buffer): Readable {
  return Readable.from([buf], { objectMode: false });
}

export async function tempRoot(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "mkroot-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every path under `dir` with its type, mode, owner, size, mtime, link target and content hash. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    const st = lstatSync(abs);
    let extra = "";
    if (st.isSymbolicLink()) extra = `-> ${readlinkSync(abs)}`;
    else if (st.isFile()) extra = createHash("sha256").update(readFileSync(abs)).digest("hex");
    out.set(rel || ".", `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.ino} ${st.nlink} ${extra}`);
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk("");
  return out;
}

/** One file's identity and content, to prove a host file was not touched. */
export function fingerprint(path: string): string {
  const st = lstatSync(path);
  return `${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${st.ino} ${st.nlink} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
}
