import { describe, expect, it } from "vitest";
import { fitsUstarName, paxHeader, paxRecord, ustarStandIn } from "./pax.js";

describe("pax", () => {
  it("writes records whose length counts itself, across a digit boundary", () => {
    expect(paxRecord("path", "abc").toString()).toBe("12 path=abc\n");
    // " path=" + n bytes + "\n" is n + 7: the length field needs 3 digits from n = 91.
    for (let n = 80; n < 110; n++) {
      const r = paxRecord("path", "x".repeat(n));
      const len = Number(r.toString().split(" ")[0]);
      expect(len).toBe(r.length);
    }
  });

  it("keeps binary values byte for byte", () => {
    const v = Buffer.from([0xff, 0x00, 0x80, 0x0a, 0x3d]);
    const r = paxRecord("SCHILY.xattr.user.bin", v);
    const eq = r.indexOf(0x3d);
    expect(Buffer.compare(r.subarray(eq + 1, r.length - 1), v)).toBe(0);
  });

  it("knows which names ustar holds", () => {
    expect(fitsUstarName("a/b", false)).toBe(true);
    expect(fitsUstarName("x".repeat(100), false)).toBe(true);
    // The trailing slash of a directory moves the whole name into the prefix field.
    expect(fitsUstarName("x".repeat(100), true)).toBe(true);
    expect(fitsUstarName("x".repeat(156), true)).toBe(false);
    expect(fitsUstarName("x".repeat(101), false)).toBe(false);
    expect(fitsUstarName(`${"d".repeat(150)}/${"f".repeat(100)}`, false)).toBe(true);
    expect(fitsUstarName("café", false)).toBe(false);
    expect(ustarStandIn("a/b/" + "é".repeat(3))).toBe("___");
  });

  it("writes a checksummed 'x' header padded to a block", () => {
    const h = paxHeader("some/file", [paxRecord("path", "p")], 10);
    expect(h.length).toBe(1024);
    expect(String.fromCharCode(h[156]!)).toBe("x");
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    expect(parseInt(h.subarray(148, 154).toString(), 8)).toBe(sum);
  });
});
