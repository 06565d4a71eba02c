import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, copyExample } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * For a large flow, the CLI keeps V8's young generation at its initial size while it only orchestrates
 * (a third of a 10,000-step build's peak RSS otherwise), and gives V8 its own policy back once the
 * user's code runs in the process; a small flow does not pay the flag's start-up cost (see
 * lean-heap.ts). Observed from inside the real CLI process: a preload that, as the process exits,
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

/** A comment as large as a flow of about a thousand steps: the size is what the CLI goes by. */
const LARGE = `# ${"padding ".repeat(20_000)}\n`;

describe("the CLI's heap: lean for a large flow, V8's own otherwise", () => {
  const COMMANDS = 'a = sh("echo a > ${output("a.txt")}")\nb = sh("cat ${a}")\n';

  it("stays small in a run of a large flow of commands", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), LARGE + COMMANDS);
    const probe = youngGenerationProbe();
    const r = await cli(["run", "--no-cache"], { cwd: dir, env: probe.env });
    expect(r.code, r.stderr).toBe(0);
    expect(probe.size()).toBeLessThanOrEqual(4 * MiB);
  });

  it("is V8's own in a run of a small flow", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), COMMANDS);
    const probe = youngGenerationProbe();
    const r = await cli(["run", "--no-cache"], { cwd: dir, env: probe.env });
    expect(r.code, r.stderr).toBe(0);
    expect(probe.size()).toBeGreaterThanOrEqual(16 * MiB);
  });

  it("grows as V8 likes once a module's code runs in the process", async () => {
    const dir = copyExample("profile");
    writeFileSync(join(dir, "profile.flow"), LARGE + readFileSync(join(dir, "profile.flow"), "utf8"));
    const probe = youngGenerationProbe();
    const r = await cli(["run", "profile.flow", "--no-cache"], { cwd: dir, env: probe.env });
    expect(r.code, r.stderr).toBe(0);
    expect(probe.size()).toBeGreaterThanOrEqual(16 * MiB);
  });
});
