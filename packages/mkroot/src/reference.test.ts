// References against the distribution/reference grammar; cases follow its reference_test.go.
import { describe, expect, it } from "vitest";
import {
  InvalidReferenceError,
  isLookupReference,
  normalizeTaggedName,
  parseReference,
  splitTaggedName,
  TAG_RE,
  registryOf,
  familiarName,
  fullName,
} from "./reference.js";

const hex64 = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

describe("parseReference", () => {
  it.each([
    ["test_com", { name: "test_com" }],
    ["test.com:tag", { name: "test.com", tag: "tag" }],
    ["test.com:5000", { name: "test.com", tag: "5000" }],
    ["test.com/repo:tag", { name: "test.com/repo", tag: "tag" }],
    ["test:5000/repo", { name: "test:5000/repo" }],
    ["test:5000/repo:tag", { name: "test:5000/repo", tag: "tag" }],
    [`test:5000/repo@sha256:${hex64}`, { name: "test:5000/repo", digest: `sha256:${hex64}` }],
    [`test:5000/repo:tag@sha256:${hex64}`, { name: "test:5000/repo", tag: "tag", digest: `sha256:${hex64}` }],
    ["lowercase:Uppercase", { name: "lowercase", tag: "Uppercase" }],
    ["sub-dom1.foo.com/bar/baz/quux", { name: "sub-dom1.foo.com/bar/baz/quux" }],
    ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", { name: "sub-dom1.foo.com/bar/baz/quux", tag: "some-long-tag" }],
    ["b.gcr.io/test.example.com/my-app:test.example.com", { name: "b.gcr.io/test.example.com/my-app", tag: "test.example.com" }],
    ["xn--n3h.com/myimage:xn--n3h.com", { name: "xn--n3h.com/myimage", tag: "xn--n3h.com" }],
    ["foo_bar.com:8080", { name: "foo_bar.com", tag: "8080" }],
    ["foo/foo_bar.com:8080", { name: "foo/foo_bar.com", tag: "8080" }],
    ["192.168.1.1:5000/repo", { name: "192.168.1.1:5000/repo" }],
    ["[2001:db8::1]:5000/repo:tag", { name: "[2001:db8::1]:5000/repo", tag: "tag" }],
    ["[2001:db8::1]/repo", { name: "[2001:db8::1]/repo" }],
    ["Uppercase.example.com/repo", { name: "Uppercase.example.com/repo" }],
    ["a__b", { name: "a__b" }],
    ["a--b-c", { name: "a--b-c" }],
    ["a.b_c/d", { name: "a.b_c/d" }],
    ["busybox:_tag", { name: "busybox", tag: "_tag" }],
  ])("accepts %s", (s, want) => {
    expect(parseReference(s)).toEqual(want);
  });

  it.each([
    ["", /must have at least one component/],
    [":justtag", /invalid reference format/],
    [`@sha256:${hex64}`, /invalid reference format/],
    ["repo@sha256:ffffffffffffffffffffffffffffffffff", /invalid checksum digest length/],
    [`validname@invaliddigest:${hex64}`, /unsupported digest algorithm invaliddigest/],
    ["Uppercase:tag", /repository name must be lowercase/],
    ["test:5000/Uppercase/lowercase:tag", /repository name must be lowercase/],
    ["aa/asdf$$^/aa", /invalid reference format/],
    ["a___b", /invalid reference format/],
    ["a._b", /invalid reference format/],
    ["-a", /invalid reference format/],
    ["a-", /invalid reference format/],
    ["a//b", /invalid reference format/],
    ["repo:-tag", /invalid reference format/],
    ["repo:.tag", /invalid reference format/],
    [`repo:${"a".repeat(129)}`, /invalid reference format/],
    ["[fe80::1%eth0]:5000/repo", /invalid reference format/],
    ["name with space", /invalid reference format/],
  ])("rejects %j", (s, message) => {
    expect(() => parseReference(s)).toThrow(InvalidReferenceError);
    expect(() => parseReference(s)).toThrow(message);
  });

  it("limits the name to 255 characters", () => {
    expect(() => parseReference(`${"a/".repeat(128)}a:tag`)).toThrow(/must not be more than 255 characters/);
    expect(parseReference(`${"a/".repeat(127)}a:tag-puts-this-over-max`).name).toHaveLength(255);
  });

  it("takes tags of 1 to 128 word characters, dots and dashes, not starting with . or -", () => {
    expect(TAG_RE.test("a")).toBe(true);
    expect(TAG_RE.test("A.b-c_1")).toBe(true);
    expect(TAG_RE.test("a".repeat(128))).toBe(true);
    expect(TAG_RE.test("a".repeat(129))).toBe(false);
    expect(TAG_RE.test(".a")).toBe(false);
    expect(TAG_RE.test("-a")).toBe(false);
    expect(TAG_RE.test("a/b")).toBe(false);
  });
});

describe("normalizeTaggedName", () => {
  it("adds :latest and keeps names as given", () => {
    expect(normalizeTaggedName("busybox")).toBe("busybox:latest");
    expect(normalizeTaggedName("busybox:1.36")).toBe("busybox:1.36");
    expect(normalizeTaggedName("localhost:5000/x")).toBe("localhost:5000/x:latest");
    expect(normalizeTaggedName("library/busybox")).toBe("busybox:latest");
    expect(normalizeTaggedName("docker.io/library/busybox:1")).toBe("busybox:1");
  });
  it("refuses digests and 64-hex names", () => {
    expect(() => normalizeTaggedName(`busybox@sha256:${hex64}`)).toThrow(/cannot name an image by digest/);
    expect(() => normalizeTaggedName("a".repeat(64))).toThrow(/cannot specify 64-byte hexadecimal strings/);
    expect(() => normalizeTaggedName("Busybox")).toThrow(/must be lowercase/);
  });
});

describe("splitTaggedName", () => {
  it("splits at the tag colon, not the port colon", () => {
    expect(splitTaggedName("busybox:latest")).toEqual({ repository: "busybox", tag: "latest" });
    expect(splitTaggedName("localhost:5000/a/b:v1")).toEqual({ repository: "localhost:5000/a/b", tag: "v1" });
    expect(splitTaggedName("localhost:5000/a")).toEqual({ repository: "localhost:5000/a", tag: "latest" });
  });
});

describe("isLookupReference", () => {
  it("takes names, digests, IDs and ID prefixes", () => {
    expect(isLookupReference("busybox")).toBe(true);
    expect(isLookupReference(`sha256:${"a".repeat(64)}`)).toBe(true);
    expect(isLookupReference("sha256:abcd")).toBe(true);
    expect(isLookupReference("abcd")).toBe(true);
    expect(isLookupReference("Busybox")).toBe(false);
    // As in Docker, these are a repository "sha256" with a tag, not IDs.
    expect(isLookupReference("sha256:ABCD")).toBe(true);
    expect(isLookupReference("sha256:")).toBe(false);
    expect(isLookupReference("@abcd")).toBe(false);
  });
});

// distribution/reference normalize_test.go: ParseNormalizedNamed and FamiliarName.
describe("registryOf / familiarName (Docker Hub defaults)", () => {
  it.each([
    ["alpine", "docker.io", "library/alpine", "alpine"],
    ["library/alpine", "docker.io", "library/alpine", "alpine"],
    ["docker.io/library/alpine", "docker.io", "library/alpine", "alpine"],
    ["index.docker.io/library/alpine", "docker.io", "library/alpine", "alpine"],
    ["user/repo", "docker.io", "user/repo", "user/repo"],
    ["docker.io/user/repo", "docker.io", "user/repo", "user/repo"],
    ["docker.io/library/a/b", "docker.io", "library/a/b", "library/a/b"],
    ["localhost/x", "localhost", "x", "localhost/x"],
    ["localhost:5000/x", "localhost:5000", "x", "localhost:5000/x"],
    ["127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "127.0.0.1:5000/a/b"],
    ["quay.io/org/img", "quay.io", "org/img", "quay.io/org/img"],
  ])("%s -> %s / %s (familiar %s)", (name, host, repository, familiar) => {
    expect(registryOf(name)).toEqual({ host, repository });
    expect(familiarName(name)).toBe(familiar);
  });
  it("fully qualifies", () => {
    expect(fullName("alpine")).toBe("docker.io/library/alpine");
    expect(fullName("localhost:5000/x")).toBe("localhost:5000/x");
  });
  it("normalizes alpine to alpine:latest and keeps digests apart", () => {
    expect(normalizeTaggedName("alpine")).toBe("alpine:latest");
    expect(normalizeTaggedName("docker.io/library/alpine")).toBe("alpine:latest");
    expect(parseReference(`localhost:5000/x@sha256:${hex64}`)).toEqual({ name: "localhost:5000/x", digest: `sha256:${hex64}` });
    expect(parseReference(`alpine:3.19@sha256:${hex64}`)).toEqual({ name: "alpine", tag: "3.19", digest: `sha256:${hex64}` });
    expect(() => parseReference("x/UPPER")).toThrow(/lowercase/);
    expect(() => parseReference("a//b")).toThrow(/invalid reference format/);
    expect(() => parseReference(`x@sha256:${hex64.slice(1)}`)).toThrow(/digest/);
  });
});
