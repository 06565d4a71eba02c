import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importOptional, TYPESCRIPT_MODULES } from "../engine/optional-dependency.js";

const TS_EXTENSION = /\.(c|m)?tsx?$/;

/**
 * Imports a module file; TypeScript is loaded through tsx, so `use "./modules.ts"` needs no build step.
 * tsx is imported only when a .ts file is actually loaded, keeping it off the start-up path.
 */
export async function loadModuleFile(
  file: string,
  options: { fresh?: boolean } = {},
): Promise<Record<string, unknown>> {
  let url = file.startsWith("file:") ? file : pathToFileURL(file).href;
  // Node keeps every module it imported; a query makes a changed file a new module (the old one stays
  // in memory: one copy per version, not per load). Only the file itself: what it imports is cached.
  if (options.fresh) url += `?v=${contentTag(url)}`;
  if (TS_EXTENSION.test(file)) {
    const { tsImport } = await importOptional(TYPESCRIPT_MODULES, () => import("tsx/esm/api"));
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** The callable behind an export: a plain function, or the `run` of a `module({...})` definition. */
export function callableOf(exported: unknown): ((...args: unknown[]) => unknown) | undefined {
  if (typeof exported === "function") return exported as (...args: unknown[]) => unknown;
  if (exported && typeof exported === "object" && typeof (exported as { run?: unknown }).run === "function") {
    return (exported as { run: (...args: unknown[]) => unknown }).run;
  }
  return undefined;
}

const loadedFunctions = new Map<string, Promise<(...args: unknown[]) => unknown>>();

/** A module's export as a callable, imported once per thread or process. */
export function loadFunction(file: string, exportName: string): Promise<(...args: unknown[]) => unknown> {
  const key = `${file}#${exportName}`;
  let p = loadedFunctions.get(key);
  if (!p) {
    p = loadModuleFile(file).then((mod) => {
      const fn = callableOf(mod[exportName]);
      if (!fn) throw new Error(`${file} has no function export "${exportName}"`);
      return fn;
    });
    // A failed import is not remembered: the next attempt may find the file fixed.
    p.catch(() => loadedFunctions.delete(key));
    loadedFunctions.set(key, p);
  }
  return p;
}

/** A short digest of a module file's content, or "missing" (the import then reports the error). */
function contentTag(url: string): string {
  try {
    return createHash("sha256")
      .update(readFileSync(fileURLToPath(url)))
      .digest("hex")
      .slice(0, 16);
  } catch {
    return "missing";
  }
}
