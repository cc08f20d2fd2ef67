/** `box images` / `box image ls`: REPOSITORY TAG [DIGEST] IMAGE ID CREATED SIZE, as Docker lays them out. */
import { flag, parseArgs, str, UsageError } from "@box/cli";
import { splitTaggedName, Store } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";
import { humanAgo, humanSize, table } from "../format.js";
import { renderTemplate } from "../template.js";

export const IMAGES_HELP = `Usage:  box images [OPTIONS]

List images

Options:
  -a, --all             Show all images (the same: there are no intermediate images)
      --digests         Show digests
      --format string   Format output: json, or a Go template ({{.Repository}}...)
      --no-trunc        Don't truncate output
  -q, --quiet           Only show image IDs
`;

interface Row {
  Repository: string;
  Tag: string;
  Digest: string;
  ID: string;
  CreatedAt: string;
  CreatedSince: string;
  Size: string;
}

export async function imageLsCommand(paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["quiet", "no-trunc", "digests", "all", "help"], string: ["format"], alias: { q: "quiet", a: "all" } });
  if (flag(a, "help")) {
    process.stdout.write(IMAGES_HELP);
    return 0;
  }
  if (a.rest.length > 1) throw new UsageError(`"box images" accepts at most 1 argument`);
  const filter = a.rest[0];
  const images = await new Store(paths.root).list();
  const short = (id: string) => (flag(a, "no-trunc") ? id : id.replace(/^sha256:/, "").slice(0, 12));
  const rows: Row[] = [];
  for (const img of images) {
    const base = { ID: short(img.id), CreatedAt: img.created, CreatedSince: humanAgo(img.created || undefined), Size: humanSize(img.size) };
    const digestOf = (repo: string) => img.repoDigests.find((d) => d.startsWith(`${repo}@`))?.slice(repo.length + 1) ?? "<none>";
    if (img.names.length === 0) {
      const rd = img.repoDigests[0];
      rows.push({ Repository: rd ? rd.slice(0, rd.indexOf("@")) : "<none>", Tag: "<none>", Digest: rd ? rd.slice(rd.indexOf("@") + 1) : "<none>", ...base });
      continue;
    }
    for (const n of img.names) {
      const { repository, tag } = splitTaggedName(n);
      if (filter !== undefined && repository !== filter && n !== filter) continue;
      rows.push({ Repository: repository, Tag: tag, Digest: digestOf(repository), ...base });
    }
  }
  if (flag(a, "quiet")) {
    process.stdout.write([...new Set(rows.map((r) => r.ID))].map((x) => `${x}\n`).join(""));
    return 0;
  }
  const format = str(a, "format");
  if (format === "json") {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  if (format !== undefined) {
    for (const r of rows) process.stdout.write(`${renderTemplate(format, r)}\n`);
    return 0;
  }
  const digests = flag(a, "digests");
  const head = digests ? ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"] : ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
  const cells = (r: Row) => (digests ? [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size] : [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]);
  process.stdout.write(table([head, ...rows.map(cells)]));
  return 0;
}
