import { describe, expect, it } from "vitest";
import { IgnoreMatcher } from "./ignore.js";

describe(".dockerignore", () => {
  it("follows Docker's pattern rules", () => {
    const m = new IgnoreMatcher("# comment\n*/temp*\n*/*/temp*\ntemp?\n/secret\n**/*.log\n!keep.log\nbuild/\n");
    expect(m.ignores("somedir/temporary.txt")).toBe(true);
    expect(m.ignores("somedir/temp")).toBe(true);
    expect(m.ignores("a/b/temp.x")).toBe(true);
    expect(m.ignores("tempa")).toBe(true);
    expect(m.ignores("tempab")).toBe(false);
    expect(m.ignores("secret")).toBe(true);
    expect(m.ignores("secret/inner")).toBe(true);
    expect(m.ignores("x/secret")).toBe(false);
    expect(m.ignores("a.log")).toBe(true);
    expect(m.ignores("deep/er/a.log")).toBe(true);
    expect(m.ignores("keep.log")).toBe(false);
    expect(m.ignores("build/out/x")).toBe(true);
    expect(m.ignores("src/main.c")).toBe(false);
  });
});
