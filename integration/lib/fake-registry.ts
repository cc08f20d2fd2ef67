// A misbehaving registry for the failure cases a real one will not produce: blobs whose bytes
// do not match their digest, connections dropped mid-blob, manifests whose digest is wrong.
// It serves images built here (layer tars made with python3's tarfile, so entries like `../x`
// can be written) over the distribution API's GET routes.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { gzipSync } from "node:zlib";

export const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A tar of `files` (name -> content; a name ending in / is a directory), via python3's tarfile. */
export function makeTar(files: Record<string, string>): Buffer {
  const script = `
import io, json, sys, tarfile
files = json.loads(sys.stdin.read())
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, content in files.items():
        info = tarfile.TarInfo(name.rstrip("/"))
        info.mtime = 0
        if name.endswith("/"):
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            t.addfile(info)
        else:
            data = content.encode()
            info.size = len(data)
            info.mode = 0o755
            t.addfile(info, io.BytesIO(data))
sys.stdout.buffer.write(buf.getvalue())
`;
  const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(files), maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python3 tarfile: ${r.stderr.toString()}`);
  return r.stdout;
}

export interface FakeImage {
  manifest: Buffer;
  manifestDigest: string;
  mediaType?: string;
  config: Buffer;
  layers: Buffer[];
  /** The platform manifests of an index. */
  children?: FakeImage[];
}

function zstd(b: Buffer): Buffer {
  const r = spawnSync("zstd", ["-q", "-c"], { input: b, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`zstd: ${r.stderr.toString()}`);
  return r.stdout;
}

/** An OCI image of gzip (or zstd) layers with a matching config. */
export function makeImage(layerTars: Buffer[], cmd: string[] = ["sh"], opts: { zstd?: boolean; architecture?: string } = {}): FakeImage {
  const layers = layerTars.map((t) => (opts.zstd ? zstd(t) : gzipSync(t)));
  const config = Buffer.from(
    JSON.stringify({
      created: "2024-01-01T00:00:00Z",
      architecture: opts.architecture ?? "amd64",
      os: "linux",
      config: { Cmd: cmd },
      rootfs: { type: "layers", diff_ids: layerTars.map(sha256) },
      history: layerTars.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `layer ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar+${opts.zstd ? "zstd" : "gzip"}`, digest: sha256(l), size: l.length })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config, layers };
}

/** A Docker manifest list over `images`, one per architecture given. */
export function makeIndex(images: Array<{ image: FakeImage; architecture: string; variant?: string }>): FakeImage {
  const mediaType = "application/vnd.docker.distribution.manifest.list.v2+json";
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: images.map(({ image, architecture, variant }) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
      })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), mediaType, config: Buffer.alloc(0), layers: [], children: images.map((i) => i.image) };
}

export interface BlobBehaviour {
  /** Serve these bytes instead of the blob's own (same Content-Length as the real blob unless told). */
  replaceWith?: Buffer;
  /** Drop the connection after this many bytes, on the first `times` requests. */
  dropAfter?: number;
  times?: number;
}

export interface FakeRegistry {
  host: string;
  /** Requests for blobs, by digest: how often each was asked for. */
  blobRequests: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Serve `images` (repo:tag -> image) on 127.0.0.1 (so box speaks plain HTTP to it).
 * `blobs` changes how particular blobs are served; `manifestHeaderDigest` lies in
 * Docker-Content-Digest.
 */
export async function startFakeRegistry(
  images: Record<string, FakeImage>,
  opts: { blobs?: Record<string, BlobBehaviour>; manifestHeaderDigest?: string } = {},
): Promise<FakeRegistry> {
  const blobRequests = new Map<string, number>();
  const blobs = new Map<string, Buffer>();
  const byDigest = new Map<string, FakeImage>();
  const add = (img: FakeImage) => {
    byDigest.set(img.manifestDigest, img);
    if (img.config.length) blobs.set(sha256(img.config), img.config);
    for (const l of img.layers) blobs.set(sha256(l), l);
    for (const c of img.children ?? []) add(c);
  };
  for (const img of Object.values(images)) add(img);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v2/") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    let m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
    if (m) {
      const [, repo, ref] = m as unknown as [string, string, string];
      const img = images[`${repo}:${ref}`] ?? (Object.keys(images).some((k) => k.startsWith(`${repo}:`)) ? byDigest.get(ref) : undefined);
      if (!img) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
        return;
      }
      res
        .writeHead(200, {
          "content-type": img.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
          "content-length": img.manifest.length,
          "docker-content-digest": opts.manifestHeaderDigest ?? img.manifestDigest,
        })
        .end(req.method === "HEAD" ? undefined : img.manifest);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (m) {
      const digest = m[2] as string;
      const n = (blobRequests.get(digest) ?? 0) + 1;
      blobRequests.set(digest, n);
      const blob = blobs.get(digest);
      if (!blob) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }] }));
        return;
      }
      const b = opts.blobs?.[digest];
      const body = b?.replaceWith ?? blob;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": blob.length });
      if (b?.dropAfter !== undefined && n <= (b.times ?? Infinity)) {
        res.write(body.subarray(0, b.dropAfter), () => res.socket?.destroy());
        return;
      }
      res.end(body.subarray(0, blob.length));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    blobRequests,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
