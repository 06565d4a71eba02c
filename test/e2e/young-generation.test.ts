import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, copyExample } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * The CLI keeps V8's young generation at its initial size while it only orchestrates (a third of a
 * 10,000-step build's peak RSS otherwise), and gives V8 its own policy back once the user's code runs
 * in the process. Observed from inside the real CLI process: a preload that, as the process exits,
 * keeps 400,000 small objects alive (which makes V8 grow the young generation if it may) and writes
 * down the young generation's size.
 */
function youngGenerationProbe(): { env: NodeJS.ProcessEnv; size: () => number } {
  const dir = tempDir();
  const out = join(dir, "new-space.txt");
  const probe = join(dir, "probe.cjs");
  writeFileSync(
    probe,
    `process.on("exit", () => {
  const keep = [];
  for (let i = 0; i < 400000; i++) keep.push({ i, s: "x" + i });
  const space = require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  require("node:fs").writeFileSync(${JSON.stringify(out)}, String(space.space_size) + " " + keep.length);
});
`,
  );
  return {
    env: { NODE_OPTIONS: `--require ${probe}` },
    size: () => Number(readFileSync(out, "utf8").split(" ")[0]),
  };
}

const MiB = 1024 * 1024;

describe("the CLI's young generation", () => {
  it("stays small in a run of commands only", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'a = sh("echo a > ${output("a.txt")}")\nb = sh("cat ${a}")\n');
    const probe = youngGenerationProbe();
    const r = await cli(["run", "--no-cache"], { cwd: dir, env: probe.env });
    expect(r.code, r.stderr).toBe(0);
    expect(probe.size()).toBeLessThanOrEqual(4 * MiB);
  });

  it("grows as V8 likes once a module's code runs in the process", async () => {
    const dir = copyExample("profile");
    const probe = youngGenerationProbe();
    const r = await cli(["run", "profile.flow", "--no-cache"], { cwd: dir, env: probe.env });
    expect(r.code, r.stderr).toBe(0);
    expect(probe.size()).toBeGreaterThanOrEqual(16 * MiB);
  });
});
