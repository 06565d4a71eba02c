import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileFlow as compileWithPackageLoader } from "../../src/index.js";
import { compileFlow, formatDiagnostics } from "../../src/language/index.js";
import { cleanup, project } from "./helpers.js";

afterAll(cleanup);

const FLOW = 'use "./modules.ts"\nuse "./more.ts"\nx = Double(2)\n';

function moduleProject(): string {
  return project({
    "modules.ts": "export function Double(x: number) { return x * 2; }\n",
    "more.ts": "export function Half(x: number) { return x / 2; }\n",
  });
}

describe("module loading is a port the language is given", () => {
  it("without a loader, each use line says modules cannot be loaded here", async () => {
    const dir = moduleProject();
    const r = await compileFlow(FLOW, join(dir, "main.flow"), { root: dir });
    expect(r.graph).toBeUndefined();
    expect(
      formatDiagnostics(r.diagnostics, FLOW)
        .split(dir + "/")
        .join(""),
    ).toMatchInlineSnapshot(`
      "main.flow:1:5: error: cannot use ./modules.ts: modules cannot be loaded in this context
      use "./modules.ts"
          ^~~~~~~~~~~~~~
      hint: compile with the tributary package's compileFlow, or pass loadModule in the compile options
      main.flow:2:5: error: cannot use ./more.ts: modules cannot be loaded in this context
      use "./more.ts"
          ^~~~~~~~~~~
      hint: compile with the tributary package's compileFlow, or pass loadModule in the compile options"
    `);
  });

  it("loads through the loader it is given", async () => {
    const dir = moduleProject();
    const asked: string[] = [];
    const r = await compileFlow(FLOW, join(dir, "main.flow"), {
      root: dir,
      loadModule: async (file) => {
        asked.push(file);
        return file.endsWith("modules.ts") ? { Double: (x: number) => x * 3 } : {};
      },
    });
    expect(asked.sort()).toEqual([join(dir, "modules.ts"), join(dir, "more.ts")]);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["empty-module"]);
    expect(r.graph!.steps.map((s) => s.module)).toEqual(["Double"]);
    const action = r.graph!.steps[0]!.action as { fn: (x: number) => number };
    expect(action.fn(2)).toBe(6);
  });

  it("the package's compileFlow loads use files itself", async () => {
    const dir = moduleProject();
    writeFileSync(join(dir, "main.flow"), FLOW);
    const r = await compileWithPackageLoader(FLOW, join(dir, "main.flow"), { root: dir });
    expect(r.diagnostics).toEqual([]);
    expect(r.info.modules).toEqual([join(dir, "modules.ts"), join(dir, "more.ts")]);
  });
});
