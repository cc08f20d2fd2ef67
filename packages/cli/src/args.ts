import minimist from "minimist";
import { UsageError } from "./errors.js";

export interface ArgSpec {
  /** Options that take a value (kept as strings: `0755` stays `0755`). */
  string?: string[];
  /** Options that take no value. */
  boolean?: string[];
  /** Options that may repeat; their values are collected into arrays. */
  multi?: string[];
  alias?: Record<string, string>;
  /** Stop at the first operand, so the command's own arguments pass through untouched. */
  stopEarly?: boolean;
}

export interface Parsed {
  opts: Record<string, string | boolean | string[] | undefined>;
  /** Operands, and everything after `--`. */
  rest: string[];
}

/**
 * minimist, configured strictly: unknown options are an error, value options
 * are strings, repeatable options are arrays, and `--` is honoured.
 */
export function parseArgs(argv: string[], spec: ArgSpec): Parsed {
  const strings = [...(spec.string ?? []), ...(spec.multi ?? [])];
  const known = new Set([...strings, ...(spec.boolean ?? [])]);
  const alias = spec.alias ?? {};
  for (const [k, v] of Object.entries(alias)) {
    known.add(k);
    known.add(v);
  }
  let unknown: string | undefined;
  // minimist reads `--no-foo` as "foo is false"; options whose own name
  // starts with no- (--no-new-privileges) are spelled so that it cannot.
  const negated = new Set((spec.boolean ?? []).filter((b) => b.startsWith("no-")).map((b) => `--${b}`));
  const original = new Set(argv);
  argv = argv.map((a) => (negated.has(a) ? `${a}=true` : a));
  // minimist takes the "-1" of `--cpus -1` for an option; Docker takes it as
  // the value (which the flag's own check then refuses).
  // Only options are looked at: the command's own words after the first
  // operand (with stopEarly) or after `--` pass untouched.
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--" || (spec.stopEarly && !a.startsWith("-"))) {
      joined.push(...argv.slice(i));
      break;
    }
    const name = a.replace(/^--?/, "");
    const takesValue = a.startsWith("-") && !a.includes("=") && strings.includes(alias[name] ?? name);
    const next = argv[i + 1];
    if (takesValue && next !== undefined) {
      joined.push(/^-\d/.test(next) ? `--${alias[name] ?? name}=${next}` : a, ...(/^-\d/.test(next) ? [] : [next]));
      i++;
    } else joined.push(a);
  }
  argv = joined;
  const parsed = minimist(argv, {
    // "_" keeps operands as typed: an image id prefix such as 1e51 is not the number 1e+51.
    string: [...strings, "_"],
    boolean: spec.boolean ?? [],
    alias,
    stopEarly: spec.stopEarly ?? false,
    "--": true,
    unknown: (arg) => {
      if (arg.startsWith("-") && arg !== "-" && unknown === undefined) {
        unknown = arg.replace(/=.*/, "");
        return false;
      }
      return true;
    },
  });
  if (unknown !== undefined) throw new UsageError(`unknown option '${unknown}'`);
  const last = argv[argv.length - 1];
  if (last !== undefined && parsed._.length === 0) {
    const name = last.replace(/^--?/, "");
    if (last.startsWith("-") && strings.includes(alias[name] ?? name)) throw new UsageError(`option '${last}' needs a value`);
  }
  const opts: Parsed["opts"] = {};
  for (const name of known) {
    const v = parsed[name];
    if (v === undefined) continue;
    if (spec.multi?.includes(name) || spec.multi?.includes(alias[name] ?? "")) {
      opts[name] = (Array.isArray(v) ? v : [v]).map(String);
    } else if (Array.isArray(v)) {
      opts[name] = String(v[v.length - 1]);
    } else {
      opts[name] = v as string | boolean;
    }
  }
  const restore = (a: string) => (a.endsWith("=true") && negated.has(a.slice(0, -5)) && !original.has(a) ? a.slice(0, -5) : a);
  const rest = [...parsed._.map(String), ...((parsed["--"] as string[] | undefined) ?? [])].map(restore);
  return { opts, rest };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.opts[name];
  return typeof v === "string" ? v : undefined;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.opts[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

export function flag(p: Parsed, name: string): boolean {
  return p.opts[name] === true;
}
