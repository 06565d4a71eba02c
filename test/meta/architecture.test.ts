import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const depcruise = join(repo, "node_modules/.bin/depcruise");
const config = join(repo, ".dependency-cruiser.cjs");
const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

it("the source tree follows the architecture (no cycles, imports point one way)", () => {
  // Throws (and fails the test) on any violation, printing it.
  execFileSync(depcruise, ["src", "--config", config], { cwd: repo, stdio: "pipe" });
});

it("the architecture check fails on a cycle and on an import against the direction", () => {
  const dir = mkdtempSync(join(tmpdir(), "tributary-arch-"));
  made.push(dir);
  const files: Record<string, string> = {
    "src/graph/ir.ts": 'import { run } from "../engine/run.js";\nexport const ir = run;\n',
    "src/engine/run.ts": 'import { ir } from "../graph/ir.js";\nexport const run = () => ir;\n',
    "src/executors/x.ts": 'import { cmd } from "../cli/main.js";\nexport const x = cmd;\n',
    "src/cli/main.ts": "export const cmd = 1;\n",
    "tsconfig.json": JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext" },
    }),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const r = spawnSync(depcruise, ["src", "--config", config], { cwd: dir, encoding: "utf8" });
  expect(r.status).not.toBe(0);
  expect(r.stdout).toContain("no-circular");
  expect(r.stdout).toContain("graph-imports: src/graph/ir.ts → src/engine/run.ts");
  expect(r.stdout).toContain("executors-imports: src/executors/x.ts → src/cli/main.ts");
});
