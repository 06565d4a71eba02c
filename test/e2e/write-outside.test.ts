/** No write outside the project: not by a step's declared output, not by a cache restore. */
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

const FLOW = 'x = sh("echo built > ${output("out/x.txt")}")\nout x\n';

describe("writes stay inside the project", () => {
  it("a step whose output path leads out through a symlinked directory fails without writing there", async () => {
    const project = tempDir();
    const outside = tempDir();
    writeFileSync(join(project, "pipeline.flow"), FLOW);
    symlinkSync(outside, join(project, "out"));
    const r = await cli(["run"], { cwd: project });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/its output out\/x\.txt would be written outside the project/);
    expect(existsSync(join(outside, "x.txt"))).toBe(false);
  });

  it("an output file that is a (dangling) link out is refused too", async () => {
    const project = tempDir();
    const outside = tempDir();
    writeFileSync(join(project, "pipeline.flow"), FLOW);
    mkdirSync(join(project, "out"));
    symlinkSync(join(outside, "x.txt"), join(project, "out/x.txt"));
    const r = await cli(["run"], { cwd: project });
    expect(r.code).toBe(1);
    expect(existsSync(join(outside, "x.txt"))).toBe(false);
  });

  it("a cache restore does not follow a symlink out of the project", async () => {
    const project = tempDir();
    const outside = tempDir();
    writeFileSync(join(project, "pipeline.flow"), FLOW);
    expect((await cli(["run"], { cwd: project })).code).toBe(0);
    expect(readFileSync(join(project, "out/x.txt"), "utf8")).toBe("built\n");
    // The output is gone and out/ now leads outside: restoring it would write there.
    rmSync(join(project, "out"), { recursive: true });
    symlinkSync(outside, join(project, "out"));
    const r = await cli(["run"], { cwd: project });
    expect(r.code).toBe(1);
    expect(existsSync(join(outside, "x.txt"))).toBe(false);
  });
});
