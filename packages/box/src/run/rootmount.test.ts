import { describe, expect, it } from "vitest";
import { shiftedCopies } from "./rootmount.js";

describe("shiftedCopies", () => {
  it("copies before Linux 5.19, where overlayfs takes no idmapped layers; BOX_IDMAP decides first", () => {
    expect(shiftedCopies({}, "5.15.0-91-generic")).toBe(true);
    expect(shiftedCopies({}, "4.18.0-553.el8_10.x86_64")).toBe(true);
    expect(shiftedCopies({}, "5.19.0")).toBe(false);
    expect(shiftedCopies({}, "6.1.0-28-amd64")).toBe(false);
    expect(shiftedCopies({ BOX_IDMAP: "copy" }, "6.18.0")).toBe(true);
    expect(shiftedCopies({ BOX_IDMAP: "mount" }, "5.15.0")).toBe(false);
  });
});
