/**
 * The jobserver benchmark's pieces, for correctness only (no timing): the overlap it reports from the
 * logged intervals, and its flows, which must check and run (a real run of a small one).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { logOverlap, sleepMap } from "../../bench/sections/jobserver.js";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

describe("jobserver bench", () => {
  it("overlap from intervals: nested and touching intervals, an end before a start at the same instant", () => {
    const log = ["+ 100", "+ 150", "- 200", "+ 200", "+ 210", "- 300", "- 310", "- 320", ""].join("\n");
    expect(logOverlap(log)).toEqual({ peak: 3, steps: 4, spanMs: 220 / 1e6 });
  });

  it("its flow runs every step once and logs each interval", async () => {
    const dir = tempDir();
    const log = join(dir, "log");
    writeFileSync(
      join(dir, "pipeline.flow"),
      `${sleepMap("a", 3, 0, log)}${sleepMap("b", 2, 0, log)}out a, b\n`,
    );
    const r = await cli(["run", "-j", "2", "--quiet"], { cwd: dir, env: { MAKEFLAGS: undefined } });
    expect(r.code, r.stderr).toBe(0);
    const o = logOverlap(readFileSync(log, "utf8"));
    expect(o.steps).toBe(5);
    expect(o.peak).toBeLessThanOrEqual(2);
  });
});
