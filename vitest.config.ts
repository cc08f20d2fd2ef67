import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "integration/**/*.test.ts"],
    // Integration tests run containers as root against the real kernel; each
    // file uses its own BOX_ROOT/BOX_RUN, so files may run side by side.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
