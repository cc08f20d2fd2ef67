/**
 * The part of Go's text/template that `--format` is used for in practice:
 * {{.Field}}, {{.A.B}}, {{json .X}}, {{json .}}, and literal text with \t and \n.
 */
import { UsageError } from "@box/cli";

function lookup(value: unknown, path: string): unknown {
  if (path === ".") return value;
  let v: unknown = value;
  for (const part of path.replace(/^\./, "").split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map(show).join(" ")}]`;
  if (typeof v === "object") return `map[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}:${show(x)}`).join(" ")}]`;
  return String(v);
}

export function renderTemplate(tmpl: string, value: unknown): string {
  const text = tmpl.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
    let m = /^json\s+(\.[\w.]*)$/.exec(expr);
    if (m) return JSON.stringify(lookup(value, m[1]!) ?? null);
    m = /^(\.[\w.]*)$/.exec(expr);
    if (m) return show(lookup(value, m[1]!));
    throw new UsageError(`template: unsupported action {{${expr}}} (box supports {{.Field}} and {{json .Field}})`);
  });
}
