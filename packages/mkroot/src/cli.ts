/** argv -> one validated Command -> a Store call. Nothing is touched until the whole line checks out. */
import { open } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { describeChain, flag, list, parseArgs, str, UsageError, type ArgSpec, type Parsed, type Tool } from "@box/cli";
import { applyChanges, InvalidChangeError } from "./config.js";
import { fsError } from "./errors.js";
import { ago, humanSize, shortId, table } from "./format.js";
import { isLookupReference, normalizeTaggedName, parseReference, splitTaggedName, InvalidReferenceError } from "./reference.js";
import { Store } from "./store.js";
import type { ProgressEvent } from "./pull.js";

export const HELP = `Usage:
 mkroot [--root DIR] import [--change INSTR]... [--message MSG] NAME[:TAG] [FILE|-]
 mkroot [--root DIR] layers IMAGE
 mkroot [--root DIR] images [--json] [-q]
 mkroot [--root DIR] inspect IMAGE
 mkroot [--root DIR] rm [-f] IMAGE...
 mkroot [--root DIR] pull [--platform OS/ARCH] [--insecure-registry HOST]... [-q] REF
 mkroot [--root DIR] push [--insecure-registry HOST]... [-q] REF
 mkroot [--root DIR] tag IMAGE NAME[:TAG]

Keep container images in a local content-addressed store and unpack their
layers safely, one directory per layer, ready to be overlay lower dirs.

Commands:
 import    import a tar (plain or gzip; stdin when FILE is - or absent) as a
           one-layer image; prints the image ID
 layers    print the image's layer directories, top first, one per line
 images    list images: REPOSITORY TAG IMAGE ID CREATED SIZE
 inspect   print the image's ID, names, digest, layers and config as JSON
 rm        remove images; prints Untagged: and Deleted: lines
 pull      fetch an image from its registry (layers in parallel, every blob
           verified); prints the image ID
 push      send an image to its registry; prints the manifest digest
 tag       give an image a further name

Options:
 -c, --change INSTR   apply a Dockerfile instruction to the image config:
                      CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
                      VOLUME or WORKDIR (import; may be repeated)
 -m, --message MSG    history comment for the imported layer (import)
     --json           print the list as JSON (images)
 -q, --quiet          print image IDs only, each once (images); no progress
                      lines on stderr (pull, push)
 -f, --force          remove an image by ID even if it has several names (rm)
     --platform P     OS/ARCH[/VARIANT] to pull from a multi-platform index
                      (pull; default linux/<this machine>)
     --insecure-registry HOST
                      allow plain HTTP or unverified TLS for HOST (pull, push;
                      127.0.0.0/8 always is; also $BOX_INSECURE_REGISTRIES)
     --root DIR       the store (default: $BOX_ROOT, or /var/lib/box)
 -h, --help           display this help

IMAGE is NAME[:TAG], NAME@sha256:DIGEST, an image ID, or a unique prefix of
one (4 hex digits or more). NAME alone means NAME:latest. REF is a registry
reference: NAME without a host is on Docker Hub (alpine is
docker.io/library/alpine:latest); 127.0.0.1:5000/x names a local registry.

Exit status: 0 ok, 1 failure (no such image, bad tar...), 2 usage error.
`;

export type Command =
  | { kind: "help" }
  | { kind: "import"; root?: string; name: string; changes: string[]; message?: string; file: string }
  | { kind: "layers"; root?: string; image: string }
  | { kind: "images"; root?: string; json: boolean; quiet: boolean }
  | { kind: "inspect"; root?: string; image: string }
  | { kind: "rm"; root?: string; images: string[]; force: boolean }
  | { kind: "pull"; root?: string; ref: string; platform?: string; insecure: string[]; quiet: boolean }
  | { kind: "push"; root?: string; ref: string; insecure: string[]; quiet: boolean }
  | { kind: "tag"; root?: string; image: string; name: string };

const COMMON: ArgSpec = { string: ["root"], boolean: ["help"], alias: { h: "help" } };

function spec(extra: ArgSpec): ArgSpec {
  return {
    string: [...(COMMON.string ?? []), ...(extra.string ?? [])],
    boolean: [...(COMMON.boolean ?? []), ...(extra.boolean ?? [])],
    multi: extra.multi ?? [],
    alias: { ...COMMON.alias, ...extra.alias },
  };
}

function imageOperand(s: string): string {
  if (!isLookupReference(s)) {
    try {
      parseReference(s);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return s;
}

function operands(p: Parsed, cmd: string, min: number, max: number, what: string): string[] {
  if (p.rest.length < min) throw new UsageError(`${cmd}: missing ${what}`);
  if (p.rest.length > max) throw new UsageError(`${cmd}: unexpected argument '${p.rest[max]}'`);
  return p.rest;
}

/** Parse and validate argv. Pure: throws UsageError, touches nothing. */
export function parseCommand(argv: string[]): Command {
  const g = parseArgs(argv, { ...COMMON, stopEarly: true });
  if (flag(g, "help")) return { kind: "help" };
  const [cmd, ...args] = g.rest;
  if (cmd === undefined) throw new UsageError("missing command");
  const withRoot = (p: Parsed): { root?: string } => {
    const root = str(p, "root") ?? str(g, "root");
    if (root === "") throw new UsageError("--root needs a directory");
    return root === undefined ? {} : { root };
  };
  switch (cmd) {
    case "import": {
      const p = parseArgs(args, spec({ string: ["message"], multi: ["change"], alias: { c: "change", m: "message" } }));
      if (flag(p, "help")) return { kind: "help" };
      const [name = "", file = "-"] = operands(p, cmd, 1, 2, "NAME");
      let normalized: string;
      try {
        normalized = normalizeTaggedName(name);
      } catch (e) {
        if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
        throw e;
      }
      const changes = list(p, "change");
      try {
        applyChanges({}, changes);
      } catch (e) {
        if (e instanceof InvalidChangeError) throw new UsageError(e.message);
        throw e;
      }
      const message = str(p, "message");
      return { kind: "import", ...withRoot(p), name: normalized, changes, ...(message !== undefined ? { message } : {}), file };
    }
    case "layers":
    case "inspect": {
      const p = parseArgs(args, spec({}));
      if (flag(p, "help")) return { kind: "help" };
      const [image = ""] = operands(p, cmd, 1, 1, "IMAGE");
      return { kind: cmd, ...withRoot(p), image: imageOperand(image) };
    }
    case "images": {
      const p = parseArgs(args, spec({ boolean: ["json", "quiet"], alias: { q: "quiet" } }));
      if (flag(p, "help")) return { kind: "help" };
      operands(p, cmd, 0, 0, "");
      const json = flag(p, "json");
      const quiet = flag(p, "quiet");
      if (json && quiet) throw new UsageError("images: --json and --quiet cannot be used together");
      return { kind: "images", ...withRoot(p), json, quiet };
    }
    case "rm": {
      const p = parseArgs(args, spec({ boolean: ["force"], alias: { f: "force" } }));
      if (flag(p, "help")) return { kind: "help" };
      const images = operands(p, cmd, 1, Infinity, "IMAGE").map(imageOperand);
      return { kind: "rm", ...withRoot(p), images, force: flag(p, "force") };
    }
    case "pull":
    case "push": {
      const p = parseArgs(args, spec({ string: ["platform"], boolean: ["quiet"], multi: ["insecure-registry"], alias: { q: "quiet" } }));
      if (flag(p, "help")) return { kind: "help" };
      const [ref = ""] = operands(p, cmd, 1, 1, "REF");
      try {
        const r = parseReference(ref);
        if (cmd === "push" && r.digest !== undefined) throw new UsageError("push: cannot push to a digest; give NAME[:TAG]");
      } catch (e) {
        if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
        throw e;
      }
      const platform = str(p, "platform");
      if (platform !== undefined && cmd === "push") throw new UsageError("push: --platform is for pull");
      if (platform !== undefined && !/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?$/.test(platform)) throw new UsageError(`invalid --platform '${platform}': expected OS/ARCH[/VARIANT]`);
      const common = { ...withRoot(p), ref, insecure: list(p, "insecure-registry"), quiet: flag(p, "quiet") };
      return cmd === "pull" ? { kind: "pull", ...common, ...(platform !== undefined ? { platform } : {}) } : { kind: "push", ...common };
    }
    case "tag": {
      const p = parseArgs(args, spec({}));
      if (flag(p, "help")) return { kind: "help" };
      const [image = "", name = ""] = operands(p, cmd, 2, 2, "IMAGE and NAME");
      try {
        return { kind: "tag", ...withRoot(p), image: imageOperand(image), name: normalizeTaggedName(name) };
      } catch (e) {
        if (e instanceof InvalidReferenceError) throw new UsageError(e.message);
        throw e;
      }
    }
    default:
      throw new UsageError(`unknown command '${cmd}'`);
  }
}

export interface Io {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable;
}

const processIo = (): Io => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  const c = parseCommand(argv);
  if (c.kind === "help") {
    io.stdout.write(HELP);
    return 0;
  }
  const store = new Store(c.root);
  switch (c.kind) {
    case "import": {
      let input: Readable;
      if (c.file === "-") {
        if (io.stdin.isTTY) throw new UsageError("import: refusing to read a tar from a terminal; give FILE or pipe one in");
        input = io.stdin;
      } else {
        const fh = await open(c.file, "r").catch((e: unknown) => {
          throw fsError(e);
        });
        input = fh.createReadStream();
      }
      const image = await store.importTar(c.name, input, {
        changes: c.changes,
        ...(c.message !== undefined ? { message: c.message } : {}),
        onWarning: (m) => io.stderr.write(`mkroot: warning: ${m}\n`),
      });
      io.stdout.write(`${image.id}\n`);
      return 0;
    }
    case "layers": {
      for (const l of await store.layers(c.image)) io.stdout.write(`${l}\n`);
      return 0;
    }
    case "inspect": {
      io.stdout.write(`${JSON.stringify(await store.get(c.image), null, 2)}\n`);
      return 0;
    }
    case "images": {
      const images = await store.list();
      if (c.json) {
        io.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
      } else if (c.quiet) {
        for (const i of images) io.stdout.write(`${shortId(i.id)}\n`);
      } else {
        const rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]];
        const now = Date.now();
        for (const i of images) {
          const names = i.names.length ? i.names.map(splitTaggedName) : [{ repository: "<none>", tag: "<none>" }];
          for (const n of names) rows.push([n.repository, n.tag, shortId(i.id), ago(i.created, now), humanSize(i.size)]);
        }
        io.stdout.write(table(rows));
      }
      return 0;
    }
    case "pull": {
      const progress = c.quiet ? undefined : (e: ProgressEvent) => {
        if (e.status === "Downloading") return;
        io.stderr.write(`mkroot: ${e.id}: ${e.status}${e.detail ? ` ${e.detail}` : ""}\n`);
      };
      const r = await store.pull(c.ref, { insecureRegistries: c.insecure, ...(c.platform !== undefined ? { platform: c.platform } : {}), ...(progress ? { onProgress: progress } : {}) });
      io.stdout.write(`${r.image.id}\n`);
      return 0;
    }
    case "push": {
      const progress = c.quiet ? undefined : (e: ProgressEvent) => {
        if (e.status === "Pushing" || e.status === "Preparing") return;
        io.stderr.write(`mkroot: ${e.id}: ${e.status}${e.detail ? ` ${e.detail}` : ""}\n`);
      };
      const r = await store.push(c.ref, { insecureRegistries: c.insecure, ...(progress ? { onProgress: progress } : {}) });
      io.stdout.write(`${r.digest}\n`);
      return 0;
    }
    case "tag": {
      await store.tagImage(c.image, c.name);
      return 0;
    }
    case "rm": {
      // As `docker rmi`: each image is tried, failures are reported, and the status says if any failed.
      let status = 0;
      for (const ref of c.images) {
        try {
          for (const line of await store.remove(ref, { force: c.force })) io.stdout.write(`${line}\n`);
        } catch (e) {
          io.stderr.write(`mkroot: ${describeChain(e)}\n`);
          status = 1;
        }
      }
      return status;
    }
  }
}

export const mkroot: Tool = { name: "mkroot", run: (argv) => run(argv) };
