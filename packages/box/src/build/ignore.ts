/**
 * .dockerignore, with Docker's pattern rules (moby/patternmatcher): one pattern a line, `#`
 * comments, paths cleaned and taken from the context root (a leading `/` is dropped), `*` and
 * `?` within one path component, `**` across any number, `!` re-includes, the last pattern that
 * matches decides, and a pattern that matches a directory matches everything under it.
 */
import { posix } from "node:path";

interface Pattern {
  re: RegExp;
  exclude: boolean;
}

function toRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // `**/` is zero or more directories; a trailing `**` is anything.
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (ch === "?") {
      re += "[^/]";
    } else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        re += "\\[";
      } else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) {
      re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      re += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`${re}(?:/.*)?$`);
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(text: string) {
    this.patterns = [];
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      let exclude = true;
      if (line.startsWith("!")) {
        exclude = false;
        line = line.slice(1).trim();
      }
      line = posix.normalize(line).replace(/^\/+/, "").replace(/\/+$/, "");
      if (line === "" || line === ".") continue;
      this.patterns.push({ re: toRegExp(line), exclude });
    }
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether `rel` (a path relative to the context root, `/`-separated) is left out. */
  ignores(rel: string): boolean {
    let out = false;
    for (const p of this.patterns) if (p.re.test(rel)) out = p.exclude;
    return out;
  }

  /**
   * Whether a walk must enter directory `rel` even though it is ignored: a later `!` pattern
   * may re-include something below it.
   */
  mayReinclude(): boolean {
    return this.patterns.some((p) => !p.exclude);
  }
}
