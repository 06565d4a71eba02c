import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, jsonEvents } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

const FLOW = `
m1    = sh("sleep 0.3; echo m1") with memory: "6GB"
m2    = sh("sleep 0.3; echo m2") with memory: "6GB"
small = sh("sleep 0.3; echo small") with memory: "1GB"
`;

describe("memory: a schedulable resource beside cpus", () => {
  it("starts steps only while their memory fits in --memory", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), FLOW);
    const r = await cli(["run", "--json", "--no-cache", "-j", "4", "--memory", "8GB"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    // Replay the events: the memory of the running steps never exceeds 8 GB, and both big ones ran.
    const size: Record<string, number> = { m1: 6, m2: 6, small: 1 };
    let held = 0;
    let peak = 0;
    for (const e of jsonEvents(r.stdout)) {
      if (e.type === "step-start") peak = Math.max(peak, (held += size[e.id as string]!));
      if (e.type === "step-end") held -= size[e.id as string]!;
    }
    expect(peak).toBe(7);
    // Without a budget that tight, all three run at once.
    const loose = await cli(["run", "--json", "--no-cache", "-j", "4", "--memory", "16GB"], { cwd: dir });
    const starts = jsonEvents(loose.stdout).filter((e) => e.type === "step-start");
    const firstEnd = jsonEvents(loose.stdout).findIndex((e) => e.type === "step-end");
    expect(
      jsonEvents(loose.stdout)
        .slice(0, firstEnd)
        .filter((e) => e.type === "step-start"),
    ).toHaveLength(3);
    expect(starts).toHaveLength(3);
  });

  it("says what is wrong with a bad size, in the flow and on the command line", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'x = sh("echo") with memory: "lots"\n');
    const r = await cli(["run"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'pipeline.flow:1:29: error: memory must be a size, like "2GB" or "512MiB", got "lots"',
    );
    const flag = await cli(["run", "--memory", "8XB"], { cwd: dir });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--memory needs a size, like 8GB or 512MiB, got "8XB"');
  });
});
