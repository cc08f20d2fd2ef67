/**
 * Registry authentication, as the distribution spec's token flow and Docker's client do it:
 * the registry answers 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`
 * (or `Basic realm="..."`); for Bearer the client asks the realm for a token for the scopes it
 * needs, sending the user's credentials as Basic auth when it has any (anonymous otherwise).
 */
export interface Challenge {
  scheme: "bearer" | "basic";
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

/** Parse a WWW-Authenticate header (one challenge; quoted values may hold commas). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = (m[1] ?? "").toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const rest = m[2] ?? "";
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    params[(p[1] ?? "").toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme, params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/** `repository:NAME:pull` or `repository:NAME:pull,push`. */
export function repoScope(repo: string, push = false): string {
  return `repository:${repo}:${push ? "pull,push" : "pull"}`;
}

/** The token request URL for `challenge` and `scopes` (one `scope` parameter each, as the spec shows). */
export function tokenUrl(challenge: Challenge, scopes: readonly string[]): string {
  const realm = challenge.params.realm;
  if (!realm) throw new Error("bearer challenge without a realm");
  const u = new URL(realm);
  if (challenge.params.service) u.searchParams.set("service", challenge.params.service);
  for (const s of scopes) u.searchParams.append("scope", s);
  return u.toString();
}
