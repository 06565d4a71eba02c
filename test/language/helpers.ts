import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadModuleFile as loadModule } from "../../src/executors/load-module.js";
import { compileFlow, formatDiagnostics, type CompileOptions } from "../../src/language/index.js";

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Import lines for module files written outside the repo (they cannot resolve "zod" by name). */
export const IMPORTS = [
  `import { z } from ${JSON.stringify(pathToFileURL(join(repo, "node_modules/zod/index.js")).href)};`,
  `import { module } from ${JSON.stringify(pathToFileURL(join(repo, "src/language/module-def.ts")).href)};`,
].join("\n");

/** A temporary project directory with the given files; `cleanup()` removes every one made. */
const made: string[] = [];
export function project(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "tributary-lang-"));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

export function cleanup(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Compiles a flow written into `dir` as main.flow; diagnostics are formatted, paths relative. */
export async function compileIn(dir: string, source: string, options: CompileOptions = {}) {
  const file = join(dir, "main.flow");
  writeFileSync(file, source);
  const r = await compileFlow(source, file, { root: dir, loadModule, ...options });
  const text = formatDiagnostics(r.diagnostics, source).split(file).join("main.flow");
  return { ...r, text };
}

/** Compiles a flow that uses no modules, with a display file name. */
export async function check(source: string, options: CompileOptions = {}): Promise<string> {
  const r = await compileFlow(source, "main.flow", { root: tmpdir(), ...options });
  return formatDiagnostics(r.diagnostics, source);
}
