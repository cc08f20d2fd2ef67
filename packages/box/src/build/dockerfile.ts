/**
 * The Dockerfile reader, after Docker's reference (and BuildKit's parser): parser directives
 * (`# syntax`, `# escape`), comments, line continuations with the escape character, heredocs
 * (`<<EOF`, `<<-EOF`, quoted), instruction flags (`--from=x`), and the shell-word processing
 * that ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG get.
 * Pure: text in, instructions out; every error names file and line.
 */

export class DockerfileError extends Error {
  readonly file: string;
  readonly line: number;
  /** The message without file and line. */
  readonly reason: string;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = "DockerfileError";
    this.file = file;
    this.line = line;
    this.reason = message;
  }
}

export interface Heredoc {
  name: string;
  content: string;
  /** Whether the body is expanded (an unquoted delimiter). */
  expand: boolean;
}

export interface Instruction {
  /** Upper case: FROM, RUN, ... */
  cmd: string;
  /** After the keyword and the flags, continuations joined, heredoc bodies not included. */
  args: string;
  flags: Map<string, string[]>;
  /** As written (keyword included, continuations joined): for messages and step names. */
  original: string;
  line: number;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  file: string;
  escape: string;
  syntax?: string;
  instructions: Instruction[];
}

export const INSTRUCTIONS = [
  "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
  "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
];

/** The flags each instruction takes, as BuildKit's dispatchers; anything else is an error. */
const FLAGS: Record<string, string[]> = {
  FROM: ["platform"],
  RUN: ["network", "mount", "security"],
  COPY: ["from", "chown", "chmod", "link", "parents", "exclude"],
  ADD: ["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"],
  HEALTHCHECK: ["interval", "timeout", "start-period", "start-interval", "retries"],
};

const HEREDOC_RE = /<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

export function parseDockerfile(text: string, file = "Dockerfile"): Dockerfile {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let escape = "\\";
  let syntax: string | undefined;
  let i = 0;
  // Parser directives: only at the very top, before any comment, blank line or instruction.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i] as string);
    if (!m) break;
    const key = (m[1] as string).toLowerCase();
    if (key !== "escape" && key !== "syntax" && key !== "check") break;
    if (seen.has(key)) throw new DockerfileError(file, i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") throw new DockerfileError(file, i + 1, `invalid escape token '${m[2]}' does not match ` + "` or \\");
      escape = m[2];
    } else if (key === "syntax") syntax = m[2];
  }
  const instructions: Instruction[] = [];
  const isComment = (l: string) => /^\s*#/.test(l);
  const continues = (l: string): string | undefined => {
    const t = l.replace(/\s+$/, "");
    return t.endsWith(escape) ? t.slice(0, -1) : undefined;
  };
  while (i < lines.length) {
    const raw = lines[i] as string;
    const start = i + 1;
    i++;
    if (raw.trim() === "" || isComment(raw)) continue;
    let text = raw.replace(/^\s+/, "");
    let c = continues(text);
    while (c !== undefined) {
      text = c;
      // Comments and blank lines inside a continuation are dropped, as Docker's parser does.
      let next: string | undefined;
      while (i < lines.length) {
        const l = lines[i] as string;
        i++;
        if (isComment(l) || l.trim() === "") continue;
        next = l;
        break;
      }
      if (next === undefined) break;
      const nc = continues(next);
      if (nc === undefined) {
        text += next;
        c = undefined;
      } else {
        c = text + nc;
      }
    }
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text.trim());
    if (!m) continue;
    const cmd = (m[1] as string).toUpperCase();
    if (!INSTRUCTIONS.includes(cmd)) throw new DockerfileError(file, start, `unknown instruction: ${m[1]}`);
    let rest = (m[2] ?? "").trim();
    const flags = new Map<string, string[]>();
    if (FLAGS[cmd] !== undefined) {
      for (;;) {
        const f = /^--([a-z][a-z-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
        if (!f) break;
        const name = f[1] as string;
        if (!(FLAGS[cmd] as string[]).includes(name)) throw new DockerfileError(file, start, `unknown flag: --${name}`);
        const v = f[2] ?? "true";
        flags.set(name, [...(flags.get(name) ?? []), v]);
        rest = rest.slice(f[0].length);
      }
    } else if (/^--[a-z]/.test(rest) && cmd !== "ONBUILD" && cmd !== "CMD" && cmd !== "ENTRYPOINT" && cmd !== "SHELL") {
      const name = /^--([a-z-]+)/.exec(rest)?.[1];
      throw new DockerfileError(file, start, `unknown flag: --${name}`);
    }
    // Heredocs: RUN, COPY and ADD, as BuildKit's dockerfile 1.4 syntax.
    const heredocs: Heredoc[] = [];
    if (cmd === "RUN" || cmd === "COPY" || cmd === "ADD") {
      for (const h of rest.matchAll(HEREDOC_RE)) {
        const strip = h[1] === "-";
        const name = h[3] as string;
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const l = lines[i] as string;
          i++;
          if ((strip ? l.replace(/^\t+/, "") : l) === name) {
            closed = true;
            break;
          }
          body.push(strip ? l.replace(/^\t+/, "") : l);
        }
        if (!closed) throw new DockerfileError(file, start, `unterminated heredoc ${name}`);
        heredocs.push({ name, content: body.length ? `${body.join("\n")}\n` : "", expand: h[2] === "" });
      }
    }
    if (rest === "" && !["HEALTHCHECK"].includes(cmd) && heredocs.length === 0) throw new DockerfileError(file, start, `${cmd} requires at least one argument`);
    // A trigger is checked where it is written, though it runs only in a child image's build.
    if (cmd === "ONBUILD") parseTrigger(rest, file, start);
    instructions.push({ cmd, args: rest, flags, original: text.trim(), line: start, heredocs });
  }
  return { file, escape, ...(syntax !== undefined ? { syntax } : {}), instructions };
}

/**
 * One ONBUILD trigger (`RUN echo hi`, as stored in an image's config) as an instruction; errors
 * name `file` and `line` (the ONBUILD, or the FROM whose image holds the trigger).
 */
export function parseTrigger(text: string, file: string, line: number): Instruction {
  const kw = /^\s*(\S+)/.exec(text)?.[1]?.toUpperCase();
  if (kw === "ONBUILD") throw new DockerfileError(file, line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (kw === "FROM" || kw === "MAINTAINER") throw new DockerfileError(file, line, `${kw} isn't allowed as an ONBUILD trigger`);
  let parsed: Dockerfile;
  try {
    parsed = parseDockerfile(text, file);
  } catch (e) {
    if (e instanceof DockerfileError) throw new DockerfileError(file, line, `ONBUILD ${text.split("\n")[0]}: ${e.reason}`);
    throw e;
  }
  const [ins, ...more] = parsed.instructions;
  if (ins === undefined || more.length > 0) throw new DockerfileError(file, line, `ONBUILD ${JSON.stringify(text)}: expected one instruction`);
  return { ...ins, line };
}

// ---- words and variables (BuildKit's shell lexer, the parts the reference documents) ----------

/** Split on unquoted whitespace; quotes and escapes stay for processWord. */
export function splitWords(s: string, escape = "\\"): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote === null && /\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
      continue;
    }
    inWord = true;
    cur += ch;
    if (ch === escape && quote !== "'" && i + 1 < s.length) {
      cur += s[++i];
    } else if (quote === null && (ch === '"' || ch === "'")) {
      quote = ch;
    } else if (ch === quote) {
      quote = null;
    }
  }
  if (quote !== null) throw new Error(`unexpected end of statement while looking for matching ${quote}`);
  if (inWord) out.push(cur);
  return out;
}

export type Lookup = (name: string) => string | undefined;

/**
 * One word with quotes removed and variables expanded: `$V`, `${V}`, `${V:-w}`, `${V-w}`,
 * `${V:+w}`, `${V+w}`, `${V:?msg}`, `${V?msg}`; single quotes are literal, the escape
 * character makes the next character literal.
 */
export function processWord(s: string, lookup: Lookup, escape = "\\"): string {
  let out = "";
  let i = 0;
  let quote: string | null = null;
  const variable = (): string => {
    // at s[i] === "$"
    const next = s[i + 1];
    if (next === "{") {
      let depth = 1;
      let j = i + 2;
      while (j < s.length && depth > 0) {
        if (s[j] === "{") depth++;
        else if (s[j] === "}") depth--;
        if (depth > 0) j++;
      }
      if (depth > 0) throw new Error(`missing '}' in ${s}`);
      const inner = s.slice(i + 2, j);
      i = j + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(inner);
      if (!m) throw new Error(`bad substitution: \${${inner}}`);
      const name = m[1] as string;
      const op = m[2];
      const v = lookup(name);
      if (op === undefined) return v ?? "";
      const word = processWord(m[3] ?? "", lookup, escape);
      const set = op.startsWith(":") ? v !== undefined && v !== "" : v !== undefined;
      switch (op.replace(":", "")) {
        case "-":
          return set ? (v as string) : word;
        case "+":
          return set ? word : "";
        default:
          if (!set) throw new Error(`${name}: ${word || "is not allowed to be unset"}`);
          return v as string;
      }
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) {
      i++;
      return "$";
    }
    i += 1 + m[0].length;
    return lookup(m[0]) ?? "";
  };
  while (i < s.length) {
    const ch = s[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else out += ch;
      i++;
    } else if (ch === escape && i + 1 < s.length) {
      const n = s[i + 1] as string;
      // Inside double quotes the escape only escapes what would otherwise be special.
      if (quote === '"' && !['"', "$", escape].includes(n)) out += ch;
      out += n;
      i += 2;
    } else if (ch === "$") {
      out += variable();
    } else if (quote === null && (ch === '"' || ch === "'")) {
      quote = ch;
      i++;
    } else if (ch === quote) {
      quote = null;
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  if (quote !== null) throw new Error(`unexpected end of statement while looking for matching ${quote}`);
  return out;
}

/** The words of `s`, each processed. */
export function processWords(s: string, lookup: Lookup, escape = "\\"): string[] {
  return splitWords(s, escape).map((w) => processWord(w, lookup, escape));
}

/** JSON exec form when the arguments parse as an array of strings, else undefined (shell form). */
export function execForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  } catch {
    // not JSON: Docker falls back to the shell form
  }
  return undefined;
}

/**
 * `k=v k2="v 2"` pairs (ENV, LABEL, ARG), or the legacy `ENV k v w` form; keys and values are
 * processed words.
 */
export function keyValues(args: string, lookup: Lookup, escape: string, legacy: boolean): Array<[string, string]> {
  const words = splitWords(args, escape);
  const first = words[0] ?? "";
  if (legacy && !first.includes("=")) {
    const value = args.trim().slice(args.trim().indexOf(first) + first.length).trim();
    if (value === "") throw new Error(`${first} must have two arguments`);
    return [[processWord(first, lookup, escape), processWord(value, lookup, escape)]];
  }
  // Each pair sees the values set before it on the same line only after the line (Docker).
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new Error(`${w}: expected NAME=VALUE`);
    return [processWord(w.slice(0, eq), lookup, escape), processWord(w.slice(eq + 1), lookup, escape)];
  });
}
