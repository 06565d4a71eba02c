import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: process-heavy e2e files would starve each other if run all at once.
    maxWorkers: 2,
    pool: "forks",
  },
});
