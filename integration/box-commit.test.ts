// box commit and box diff: a container's upper dir as a layer, and as A/C/D lines.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCode, expectOk, formatLeaks, harness, importBusybox, leaks, type Harness } from "./lib/harness.js";

let h: Harness;

beforeAll(async () => {
  h = await harness();
  await importBusybox(h);
});

afterAll(async () => {
  await h?.cleanup();
});

describe("box diff", () => {
  it("lists added, changed and deleted paths as Docker", async () => {
    expectOk(await h.box("run", "--name", "d1", "busybox", "sh", "-c", "echo new > /tmp/new; echo x >> /etc/passwd; rm /bin/ls; mkdir -p /a/b"));
    const r = expectOk(await h.box("diff", "d1"));
    const lines = r.stdout.trim().split("\n");
    for (const l of ["A /a", "A /a/b", "C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /tmp", "A /tmp/new"]) expect(lines).toContain(l);
    expect(lines).toEqual([...lines].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)));
    const json = expectOk(await h.box("diff", "--format", "json", "d1")).stdout.trim().split("\n").map((l) => JSON.parse(l) as { Kind: number; Path: string });
    expect(json).toContainEqual({ Kind: 2, Path: "/bin/ls" });
    expect(json).toContainEqual({ Kind: 1, Path: "/tmp/new" });
    expectOk(await h.box("rm", "d1"));
  });

  it("says No such container", async () => {
    expect(expectCode(await h.box("diff", "nope"), 1).stderr).toContain("No such container: nope");
    expect(expectOk(await h.box("diff", "--help")).stdout).toMatch(/^Usage: {2}box diff/);
  });
});

describe("box commit", () => {
  it("makes an image of the container's changes, with --change and -m", async () => {
    expectOk(await h.box("run", "--name", "c1", "busybox", "sh", "-c", "echo committed > /hello; rm /bin/ls"));
    const r = expectOk(await h.box("commit", "-m", "my message", "-c", 'CMD ["cat", "/hello"]', "-c", "ENV X=1", "c1", "committed:v1"));
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(expectOk(await h.box("run", "--rm", "committed:v1")).stdout).toBe("committed\n");
    const ls = await h.box("run", "--rm", "committed:v1", "sh", "-c", "ls /bin/ls 2>&1; echo $X");
    expect(ls.stdout).toContain("No such file");
    expect(ls.stdout).toContain("1\n");
    const hist = expectOk(await h.box("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:v1")).stdout.trim().split("\n");
    expect(hist[0]).toBe("sh -c echo committed > /hello; rm /bin/ls|my message");
    expect(hist).toHaveLength(2);
    expectOk(await h.box("rm", "c1"));
    expect(formatLeaks(leaks(h))).toBe("");
  });

  it("commits without a name as a dangling image, and refuses bad input", async () => {
    expectOk(await h.box("run", "--name", "c2", "busybox", "true"));
    const id = expectOk(await h.box("commit", "c2")).stdout.trim();
    expect(id).toMatch(/^sha256:/);
    expect(expectCode(await h.box("commit", "nope"), 1).stderr).toContain("No such container: nope");
    expect(expectCode(await h.box("commit", "-c", "FROM x", "c2", "x:1"), 1).stderr).toMatch(/not a valid change instruction/);
    expect(expectCode(await h.box("commit", "c2", "Bad Name"), 125).stderr).toMatch(/invalid reference/);
    expect(expectOk(await h.box("commit", "--help")).stdout).toMatch(/^Usage: {2}box commit/);
    expectOk(await h.box("rm", "c2"));
  });
});
