/**
 * Image references, after the grammar of github.com/distribution/reference (regexp.go):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain '/'] path-component ['/' path-component]*
 *   domain     := host [':' port-number]
 *   path-component := alpha-numeric [separator alpha-numeric]*
 *   separator  := /[_.]|__|[-]+/
 *   tag        := /[\w][\w.-]{0,127}/
 *   digest     := algorithm ":" hex
 *
 * Names are stored in Docker's familiar form (`busybox:latest`, `localhost:5000/x:latest`):
 * `docker.io/library/busybox` and `library/busybox` are the same name as `busybox`. Where the
 * image lives is `registryOf`: a first component with a `.` or a `:`, or `localhost`, is a
 * registry host; anything else is on Docker Hub (docker.io), official images under `library/`.
 */

const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tag = "[\\w][\\w.-]{0,127}";
const digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const name = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;

export const REFERENCE_RE = new RegExp(`^(${name})(?::(${tag}))?(?:@(${digest}))?$`);
export const TAG_RE = new RegExp(`^${tag}$`);
export const DIGEST_RE = new RegExp(`^${digest}$`);
/** A full image ID: 64 lowercase hex digits, optionally after `sha256:`. */
export const ID_RE = /^(?:sha256:)?([a-f0-9]{64})$/;
/** An image ID or a unique prefix of one, at least 4 hex digits. */
export const ID_PREFIX_RE = /^(?:sha256:)?([a-f0-9]{4,64})$/;

/** The longest name (domain included) a registry accepts. */
export const NAME_TOTAL_LENGTH_MAX = 255;
export const DEFAULT_TAG = "latest";

export interface Reference {
  /** Repository name, with its domain if one was given: `busybox`, `localhost:5000/a/b`. */
  name: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

export class InvalidReferenceError extends Error {
  readonly reference: string;
  constructor(reference: string, reason: string) {
    super(`invalid reference ${JSON.stringify(reference)}: ${reason}`);
    this.name = "InvalidReferenceError";
    this.reference = reference;
  }
}

/** Parse a reference strictly; nothing is defaulted (no `:latest`). */
export function parseReference(s: string): Reference {
  if (s === "") throw new InvalidReferenceError(s, "repository name must have at least one component");
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    if (REFERENCE_RE.test(s.toLowerCase())) throw new InvalidReferenceError(s, "repository name must be lowercase");
    throw new InvalidReferenceError(s, "invalid reference format");
  }
  const [, n = "", t, d] = m;
  if (n.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidReferenceError(s, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: Reference = { name: n };
  if (t !== undefined) ref.tag = t;
  if (d !== undefined) ref.digest = parseDigest(d, s);
  return ref;
}

/** Validate a digest: only sha256 is supported, and it must be exactly 64 lowercase hex digits. */
export function parseDigest(d: string, context = d): string {
  if (!DIGEST_RE.test(d)) throw new InvalidReferenceError(context, "invalid digest format");
  const colon = d.indexOf(":");
  const algorithm = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  if (algorithm !== "sha256") throw new InvalidReferenceError(context, `unsupported digest algorithm ${algorithm}`);
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new InvalidReferenceError(context, "invalid checksum digest length or case");
  return d;
}

/**
 * The name an image is stored under: `NAME:TAG`, with `:latest` when no tag is given.
 * Digests are refused: a digest names content, it cannot be pointed at new content.
 */
export function normalizeTaggedName(s: string): string {
  const ref = parseReference(s);
  if (ref.digest !== undefined) throw new InvalidReferenceError(s, "cannot name an image by digest; use NAME[:TAG]");
  // As Docker: a 64-hex name would be mistaken for an image ID on every later lookup.
  if (/^[a-f0-9]{64}$/.test(ref.name)) {
    throw new InvalidReferenceError(s, `invalid repository name (${ref.name}), cannot specify 64-byte hexadecimal strings`);
  }
  return `${familiarName(ref.name)}:${ref.tag ?? DEFAULT_TAG}`;
}

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";

/**
 * Split a repository name into the registry host and the path on it, as distribution's
 * splitDockerDomain: `alpine` -> docker.io, `library/alpine`; `localhost:5000/x` -> localhost:5000, `x`.
 */
export function registryOf(name: string): { host: string; repository: string } {
  const i = name.indexOf("/");
  let host = DEFAULT_DOMAIN;
  let repository = name;
  if (i >= 0) {
    const first = name.slice(0, i);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first) {
      host = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
      repository = name.slice(i + 1);
    }
  }
  if (host === DEFAULT_DOMAIN && !repository.includes("/")) repository = OFFICIAL_REPO_PREFIX + repository;
  return { host, repository };
}

/** The fully qualified name: `alpine` -> `docker.io/library/alpine`. */
export function fullName(name: string): string {
  const { host, repository } = registryOf(name);
  return `${host}/${repository}`;
}

/** Docker's short form: `docker.io/library/alpine` -> `alpine`, `docker.io/u/x` -> `u/x`. */
export function familiarName(name: string): string {
  const { host, repository } = registryOf(name);
  if (host !== DEFAULT_DOMAIN) return `${host}/${repository}`;
  return repository.startsWith(OFFICIAL_REPO_PREFIX) && !repository.slice(OFFICIAL_REPO_PREFIX.length).includes("/")
    ? repository.slice(OFFICIAL_REPO_PREFIX.length)
    : repository;
}

/** Split a stored `NAME:TAG` into its repository and tag (the tag is after the last `:` past any `/`). */
export function splitTaggedName(full: string): { repository: string; tag: string } {
  const slash = full.lastIndexOf("/");
  const colon = full.lastIndexOf(":");
  if (colon > slash) return { repository: full.slice(0, colon), tag: full.slice(colon + 1) };
  return { repository: full, tag: DEFAULT_TAG };
}

/** Whether `s` can name an image at all: a reference, or an image ID or prefix of one. */
export function isLookupReference(s: string): boolean {
  if (ID_PREFIX_RE.test(s)) return true;
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}
