/**
 * What a registry said, in words a user can act on. The distribution spec's error body is
 * `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}`; its
 * first code and message are kept so callers can tell "not found" from "denied".
 */
export class RegistryError extends Error {
  /** HTTP status, when the registry answered at all. */
  readonly status: number | undefined;
  /** The spec's error code (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN, UNAUTHORIZED, DENIED...). */
  readonly code: string | undefined;
  constructor(message: string, opts: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = "RegistryError";
    this.status = opts.status;
    this.code = opts.code;
  }
}

/** 401 after sending credentials (or with none to send): named as such. */
export class UnauthorizedError extends RegistryError {
  constructor(host: string, hadCredentials: boolean, detail?: string) {
    super(
      hadCredentials
        ? `401 Unauthorized: ${host} refused the user name or password${detail ? ` (${detail})` : ""}`
        : `401 Unauthorized: ${host} requires authentication${detail ? ` (${detail})` : ""}; run 'box login ${host}'`,
      { status: 401, code: "UNAUTHORIZED" },
    );
    this.name = "UnauthorizedError";
  }
}

/** The registry could not be reached: refused, reset, unresolvable, TLS failure. */
export class UnreachableError extends RegistryError {
  constructor(url: string, cause: unknown) {
    super(`${url}: ${networkReason(cause)}`, { cause: undefined });
    this.name = "UnreachableError";
  }
}

/** One short phrase for a network-level error from node's http (the code and the address). */
export function networkReason(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  const inner = err?.cause && typeof err.cause === "object" ? err.cause : err;
  const code = inner?.code ?? err?.code;
  const msg = inner?.message ?? err?.message ?? String(e);
  if (code === "ECONNREFUSED") return `connection refused (${msg.replace(/^connect ECONNREFUSED /, "")}): is the registry running?`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the host name (${code})`;
  if (code === "ECONNRESET" || code === "EPIPE" || /closed the connection|socket hang up|aborted/.test(msg)) return `the registry closed the connection (${msg})`;
  if (typeof code === "string" && /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL/.test(code)) {
    return `TLS: ${msg} (${code}); trust the registry's CA in certs.d/HOST/ca.crt or mark it --insecure-registry`;
  }
  return code ? `${msg} (${code})` : msg;
}

/** The first error of a spec error body, if the body is one. */
export function specError(body: string): { code: string; message: string; detail?: unknown } | undefined {
  try {
    const j = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown; detail?: unknown }> };
    const e = j.errors?.[0];
    if (e && typeof e.code === "string") return { code: e.code, message: typeof e.message === "string" ? e.message : e.code.toLowerCase(), detail: e.detail };
  } catch {
    // not JSON: the caller reports the status line
  }
  return undefined;
}
