/**
 * `clean` below the command line: what it removes besides the declared outputs (files the last run of a
 * map item recorded in its cache entry), and what it never removes. The end-to-end cases (declared
 * outputs, inputs kept, a symlink out refused) are in test/e2e/targets-force-clean.test.ts.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { recordedOutputs } from "../../src/cache/index.js";
import { cleanOutputs } from "../../src/project/clean.js";
import { openProject } from "../../src/project/index.js";
import { cleanup, project } from "../language/helpers.js";

afterAll(cleanup);

const FLOW = `
x = sh("echo x > \${output("out/x.txt")}")
n = sh("ls \${glob("src/*.txt")}")
out x, n
`;

describe("clean", () => {
  it("reads back the outputs a step's last run recorded in the cache", async () => {
    const root = project({ "pipeline.flow": FLOW, "src/a.txt": "a\n" });
    expect((await openProject({ flow: join(root, "pipeline.flow") }).run()).ok).toBe(true);
    const recorded = recordedOutputs({ root }, (id) => id === "x");
    expect([...recorded]).toEqual([["x", ["out/x.txt"]]]);
    // Nothing is known of a project whose cache has no record of it.
    expect(recordedOutputs({ root: project() }, () => true).size).toBe(0);
  });

  it("removes recorded files too, but never one the flow reads or one outside the project", async () => {
    const root = project({ "pipeline.flow": FLOW, "src/a.txt": "a\n" });
    const p = openProject({ flow: join(root, "pipeline.flow") });
    expect((await p.run()).ok).toBe(true);
    writeFileSync(join(root, "out/item-0.txt"), "written by a map item\n");
    const r = cleanOutputs(root, await p.graph(), {
      recorded: ["out/item-0.txt", "src/a.txt", "../elsewhere.txt"],
      keep: [join(root, "pipeline.flow")],
    });
    expect(r.removed).toEqual(["out/item-0.txt", "out/x.txt"]);
    expect(r.kept).toEqual([{ path: "src/a.txt", why: "it is also an input of the flow" }]);
    expect(r.refused).toEqual([{ path: "../elsewhere.txt", why: "it is outside the project" }]);
    expect(existsSync(join(root, "src/a.txt"))).toBe(true);
    expect(existsSync(join(root, "out/x.txt"))).toBe(false);
  });

  it("the Project API's dry run removes nothing", async () => {
    const root = project({ "pipeline.flow": FLOW, "src/a.txt": "a\n" });
    const p = openProject({ flow: join(root, "pipeline.flow") });
    expect((await p.run()).ok).toBe(true);
    const r = await p.clean({ dryRun: true });
    expect(r).toMatchObject({ dryRun: true, removed: ["out/x.txt"], refused: [] });
    expect(existsSync(join(root, "out/x.txt"))).toBe(true);
  });
});
