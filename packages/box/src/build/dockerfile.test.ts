import { describe, expect, it } from "vitest";
import { DockerfileError, keyValues, parseDockerfile, parseTrigger, processWord, processWords } from "./dockerfile.js";

const env = (o: Record<string, string>) => (k: string) => o[k];

describe("parseDockerfile", () => {
  it("reads directives, comments, continuations, flags and heredocs", () => {
    const d = parseDockerfile(
      "# escape=`\n# a comment\nFROM busybox AS build\nRUN echo a `\n  # inside\n  b\nCOPY --from=build --chown=1:2 /x /y\nRUN <<EOF\necho hi\nEOF\n",
    );
    expect(d.escape).toBe("`");
    expect(d.instructions.map((i) => [i.cmd, i.line])).toEqual([["FROM", 3], ["RUN", 4], ["COPY", 7], ["RUN", 8]]);
    expect(d.instructions[1]?.args).toBe("echo a   b");
    expect(d.instructions[2]?.flags.get("from")).toEqual(["build"]);
    expect(d.instructions[2]?.args).toBe("/x /y");
    expect(d.instructions[3]?.heredocs).toEqual([{ name: "EOF", content: "echo hi\n", expand: true }]);
  });

  it("names file and line on bad input", () => {
    expect(() => parseDockerfile("FROM x\n\nFOO bar\n")).toThrow(new DockerfileError("Dockerfile", 3, "unknown instruction: FOO"));
    expect(() => parseDockerfile("FROM x\nCOPY --bogus=1 a b\n")).toThrow("Dockerfile:2: unknown flag: --bogus");
    expect(() => parseDockerfile("FROM x\nRUN <<EOF\nno end\n")).toThrow("Dockerfile:2: unterminated heredoc EOF");
  });
});

describe("ONBUILD triggers", () => {
  it("parse as one instruction, on the line given", () => {
    const t = parseTrigger("COPY --chown=1:2 . /app", "Dockerfile", 7);
    expect([t.cmd, t.args, t.line, t.flags.get("chown")]).toEqual(["COPY", ". /app", 7, ["1:2"]]);
  });

  it("refuse what Docker refuses, where the ONBUILD is written", () => {
    expect(() => parseDockerfile("FROM x\nONBUILD ONBUILD RUN true\n")).toThrow("Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect(() => parseDockerfile("FROM x\nonbuild from y\n")).toThrow("Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
    expect(() => parseDockerfile("FROM x\nONBUILD MAINTAINER me\n")).toThrow("Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");
    expect(() => parseDockerfile("FROM x\n\nONBUILD COPY --bogus a b\n")).toThrow("Dockerfile:3: ONBUILD COPY --bogus a b: unknown flag: --bogus");
  });
});

describe("word processing (Docker's reference examples)", () => {
  it("expands variables with modifiers, quotes and escapes", () => {
    const e = env({ FOO: "/bar", EMPTY: "" });
    expect(processWord("$FOO", e)).toBe("/bar");
    expect(processWord("${FOO}/x", e)).toBe("/bar/x");
    expect(processWord("\\$FOO", e)).toBe("$FOO");
    expect(processWord("'$FOO'", e)).toBe("$FOO");
    expect(processWord('"$FOO x"', e)).toBe("/bar x");
    expect(processWord("${UNSET:-word}", e)).toBe("word");
    expect(processWord("${EMPTY:-word}", e)).toBe("word");
    expect(processWord("${EMPTY-word}", e)).toBe("");
    expect(processWord("${FOO:+word}", e)).toBe("word");
    expect(processWord("${UNSET:+word}", e)).toBe("");
    expect(() => processWord("${UNSET:?must be set}", e)).toThrow("UNSET: must be set");
    expect(processWords("a $FOO 'b c'", e)).toEqual(["a", "/bar", "b c"]);
  });

  it("reads ENV pairs, the legacy form, and values set earlier", () => {
    expect(keyValues('MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog', env({}), "\\", true)).toEqual([["MY_NAME", "John Doe"], ["MY_DOG", "Rex The Dog"]]);
    expect(keyValues("MY_VAR my-value with spaces", env({}), "\\", true)).toEqual([["MY_VAR", "my-value with spaces"]]);
    // ENV abc=bye def=$abc: def sees the value from before this line (Docker's reference).
    expect(keyValues("abc=bye def=$abc", env({ abc: "hello" }), "\\", true)).toEqual([["abc", "bye"], ["def", "hello"]]);
  });
});
