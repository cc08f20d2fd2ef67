import { describe, expect, it } from "vitest";
import { buildData, escapeOption, fits, MOUNT_DATA_MAX } from "./mountdata.js";

describe("mount data", () => {
  it("escapes the separators overlayfs splits on", () => {
    expect(escapeOption("/a:b,c\\d")).toBe("/a\\:b\\,c\\\\d");
    expect(escapeOption("/plain/path")).toBe("/plain/path");
  });

  it("lists lowers top first, then upper, work and the fixed options", () => {
    expect(buildData({ lower: ["/top", "/bottom"], upper: "/u", work: "/w" })).toBe(
      "lowerdir=/top:/bottom,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off",
    );
    expect(buildData({ lower: ["/a", "/b:c"] })).toBe("lowerdir=/a:/b\\:c,index=off");
  });

  it("counts bytes and the NUL against one page", () => {
    expect(fits("x".repeat(MOUNT_DATA_MAX - 1))).toBe(true);
    expect(fits("x".repeat(MOUNT_DATA_MAX))).toBe(false);
    // Two bytes per character in UTF-8.
    expect(fits("é".repeat(MOUNT_DATA_MAX / 2))).toBe(false);
  });
});
