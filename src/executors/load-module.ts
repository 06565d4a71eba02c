import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importOptional, TYPESCRIPT_MODULES } from "../engine/optional-dependency.js";

const TS_EXTENSION = /\.(c|m)?tsx?$/;

/**
 * Where a TypeScript module's transpiled JavaScript is (a file: URL), transpiled now if need be, or
 * undefined: load the source through tsx. The cache layer implements it (transpiled-modules.ts); the
 * project layer passes it in.
 */
export type ModuleTranspiler = (root: string, absFile: string) => Promise<string | undefined>;

export interface LoadModuleOptions {
  /** Import the file again when its content changed since it was imported. */
  fresh?: boolean;
  /** With `root`: TypeScript is imported as cached JavaScript when it can be (tsx otherwise). */
  transpile?: ModuleTranspiler;
  root?: string;
}

/** Source file → the transpiled URL this process imported for it (what a worker thread imports too). */
const transpiledUrls = new Map<string, Promise<string | undefined>>();

/**
 * Imports a module file; TypeScript is loaded as JavaScript transpiled once per content (given a
 * transpiler and a root), else through tsx, so `use "./modules.ts"` needs no build step. tsx is
 * imported only when a .ts file is actually loaded through it, keeping it off the start-up path.
 */
export async function loadModuleFile(
  file: string,
  options: LoadModuleOptions = {},
): Promise<Record<string, unknown>> {
  let url = file.startsWith("file:") ? file : pathToFileURL(file).href;
  if (TS_EXTENSION.test(file) && options.transpile && options.root !== undefined) {
    const js = await transpiledUrl(fileURLToPath(url), options.root, options.transpile, options.fresh);
    // Its name is content-addressed over the whole local import graph: a changed file is a new URL.
    if (js) return (await import(js)) as Record<string, unknown>;
  }
  // Node keeps every module it imported; a query makes a changed file a new module (the old one stays
  // in memory: one copy per version, not per load). Only the file itself: what it imports is cached.
  if (options.fresh) url += `?v=${contentTag(url)}`;
  if (TS_EXTENSION.test(file)) {
    const { tsImport } = await importOptional(TYPESCRIPT_MODULES, () => import("tsx/esm/api"));
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** The transpiled URL this process imported for a module file, if it did (for a worker thread). */
export function importedTranspiledUrl(absFile: string): Promise<string | undefined> {
  return transpiledUrls.get(absFile) ?? Promise.resolve(undefined);
}

function transpiledUrl(
  abs: string,
  root: string,
  transpile: ModuleTranspiler,
  fresh: boolean | undefined,
): Promise<string | undefined> {
  let p = fresh ? undefined : transpiledUrls.get(abs);
  if (!p) {
    p = transpile(root, abs).then(
      (url) => {
        // Stack traces then point into the .ts source (the transpiled files carry source maps).
        if (url) process.setSourceMapsEnabled(true);
        return url;
      },
      // The cache is an optimization: when it cannot be written (read-only project), tsx loads it.
      () => undefined,
    );
    transpiledUrls.set(abs, p);
  }
  return p;
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
export function loadFunction(
  file: string,
  exportName: string,
  /** What to import instead of `file` (its transpiled JavaScript); `file` names it in errors. */
  url?: string,
): Promise<(...args: unknown[]) => unknown> {
  const key = `${file}#${exportName}`;
  let p = loadedFunctions.get(key);
  if (!p) {
    p = loadModuleFile(url ?? file).then((mod) => {
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
