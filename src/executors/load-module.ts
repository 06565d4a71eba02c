import { pathToFileURL } from "node:url";
import { importOptional, TYPESCRIPT_MODULES } from "./optional-dependency.js";

const TS_EXTENSION = /\.(c|m)?tsx?$/;

/**
 * Imports a module file; TypeScript is loaded through tsx, so `use "./modules.ts"` needs no build step.
 * tsx is imported only when a .ts file is actually loaded, keeping it off the start-up path.
 */
export async function loadModuleFile(file: string): Promise<Record<string, unknown>> {
  const url = file.startsWith("file:") ? file : pathToFileURL(file).href;
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
