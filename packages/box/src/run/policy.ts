/** --restart and --log-opt as Docker spells them; pure, so unit-tested without root. */
import { ExitError } from "@box/cli";

export interface RestartPolicy {
  Name: "no" | "on-failure" | "always" | "unless-stopped";
  MaximumRetryCount: number;
}

export function parseRestart(spec: string): RestartPolicy {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ExitError(`invalid restart policy '${spec}' (want no, on-failure[:N], always or unless-stopped)`, 125);
  const name = m[1] as RestartPolicy["Name"];
  if (m[2] !== undefined && name !== "on-failure") throw new ExitError(`invalid restart policy '${spec}': maximum retry count cannot be used with restart policy '${name}'`, 125);
  return { Name: name, MaximumRetryCount: m[2] !== undefined ? Number(m[2]) : 0 };
}

export interface LogOptions {
  /** Bytes; 0 for no limit. */
  maxSize: number;
  maxFile: number;
  config: Record<string, string>;
}

/** Docker's sizes: 10k, 10m, 1g in units of 1024 (go-units RAMInBytes). */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s);
  if (!m) return undefined;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}

export function parseLogOpts(driver: string, opts: string[]): LogOptions {
  if (driver !== "json-file") throw new ExitError(`logging driver '${driver}' is not supported (json-file is)`, 125);
  const config: Record<string, string> = {};
  for (const o of opts) {
    const i = o.indexOf("=");
    if (i < 0) throw new ExitError(`invalid log opt '${o}' (want KEY=VALUE)`, 125);
    config[o.slice(0, i)] = o.slice(i + 1);
  }
  let maxSize = 0;
  let maxFile = 1;
  for (const [k, v] of Object.entries(config)) {
    if (k === "max-size") {
      const n = parseSize(v);
      if (n === undefined || n <= 0) throw new ExitError(`invalid max-size '${v}'`, 125);
      maxSize = n;
    } else if (k === "max-file") {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new ExitError(`invalid max-file '${v}': must be a number of at least 1`, 125);
      maxFile = Number(v);
    } else throw new ExitError(`unknown log opt '${k}' for json-file log driver`, 125);
  }
  if (maxFile > 1 && maxSize === 0) throw new ExitError("max-file cannot be set without max-size", 125);
  return { maxSize, maxFile, config };
}
