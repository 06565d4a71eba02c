import type { StepCache } from "../engine/cache-port.js";
import type { CacheFlags } from "./options.js";

export type { CacheFlags };

export interface ProjectCache {
  stepCache: StepCache;
  /** Flushes the index, stat cache and explain data; call it after every run, also a cancelled one. */
  close(): Promise<void>;
}

/** --cache-dir, else $TRIBUTARY_CACHE_DIR, else <root>/.tributary/cache. */
export async function projectCacheDir(root: string, flags: CacheFlags): Promise<string> {
  const { resolveCacheDir } = await import("../cache/index.js");
  return resolveCacheDir(root, { flag: flags.cacheDir });
}

/**
 * Opens the project's cache. With --no-cache every step runs (nothing is read) and the fresh results
 * replace the old entries. A cache that cannot be opened (permissions, a read-only disk) costs the
 * speed-up, never the build: the run goes on without it, with a warning.
 */
export async function openProjectCache(
  root: string,
  flags: CacheFlags,
  onWarning: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProjectCache | undefined> {
  const { openCache } = await import("../cache/index.js");
  const dir = await projectCacheDir(root, flags);
  try {
    const cache = await openCache({ root, dir, onWarning, env, read: flags.cache !== false });
    let closing: Promise<void> | undefined;
    return { stepCache: cache, close: () => (closing ??= cache.close()) };
  } catch (err) {
    onWarning(`cannot open the cache at ${dir} (${(err as Error).message}); running without it`);
    return undefined;
  }
}
