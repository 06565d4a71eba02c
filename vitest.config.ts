import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Stops the run before any test file when redis-server, nginx, cc or make is missing (no silent skips).
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: process-heavy e2e files would starve each other if run all at once.
    maxWorkers: 2,
    pool: "forks",
  },
});
