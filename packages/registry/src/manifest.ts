/** Manifest kinds and choosing one platform out of an index, as Docker does. */
import { MEDIA_TYPES } from "./client.js";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ManifestDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { "os.version"?: string; "os.features"?: string[] };
  annotations?: Record<string, string>;
}

export function isIndex(mediaType: string, json: { manifests?: unknown; mediaType?: unknown }): boolean {
  if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList) return true;
  // OCI allows the mediaType to be left out; an index is what has "manifests".
  return (mediaType === "" || mediaType === "application/json") && Array.isArray(json.manifests);
}

export function isImageManifest(mediaType: string, json: { config?: unknown; layers?: unknown }): boolean {
  if (mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest) return true;
  return (mediaType === "" || mediaType === "application/json") && json.config !== undefined && Array.isArray(json.layers);
}

/** "linux/amd64", "linux/arm64/v8" -> Platform. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, ...extra] = s.split("/");
  if (!os || !architecture || extra.length) throw new Error(`invalid platform ${JSON.stringify(s)}: expected OS/ARCH[/VARIANT]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The index entry for `want`: exact variant when asked, else the first of os/arch (arm64's v8 default). */
export function pickPlatform(manifests: readonly ManifestDescriptor[], want: Platform): ManifestDescriptor | undefined {
  const candidates = manifests.filter((m) => m.platform?.os === want.os && m.platform.architecture === want.architecture);
  if (want.variant) return candidates.find((m) => (m.platform?.variant ?? (want.architecture === "arm64" ? "v8" : "")) === want.variant);
  return candidates.find((m) => !m.platform?.variant || m.platform.variant === "v8") ?? candidates[0];
}
