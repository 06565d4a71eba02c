import type { LocalCache } from "../cache/local-cache.js";
import type { TransferOutputs } from "../executors/remote/protocol.js";
import { CliError, EXIT } from "./exit-codes.js";
import type { CacheFlags } from "./options.js";

export type { CacheFlags };

export interface ProjectCache {
  stepCache: LocalCache;
  /**
   * Flushes the index, stat cache and explain data, then waits for uploads to the remote cache; call it
   * after every run, also a cancelled one.
   */
  close(): Promise<void>;
  /** With a remote cache: fetches remote workers' output files from its CAS (for `run --remote`). */
  transferOutputs?: TransferOutputs;
  /**
   * With --remote-cache-required: what failed on the remote cache during the run (complete after
   * close()); the run fails when it is not empty. Always empty otherwise.
   */
  remoteProblems(): string[];
}

/** --cache-dir, else $TRIBUTARY_CACHE_DIR, else <root>/.tributary/cache. */
export async function projectCacheDir(root: string, flags: CacheFlags): Promise<string> {
  const { resolveCacheDir } = await import("../cache/index.js");
  return resolveCacheDir(root, { flag: flags.cacheDir });
}

/** --remote-cache, else $TRIBUTARY_REMOTE_CACHE, else none. */
export function remoteCacheSpec(flags: { remoteCache?: string }, env: NodeJS.ProcessEnv): string | undefined {
  const spec = flags.remoteCache ?? env.TRIBUTARY_REMOTE_CACHE;
  return spec === undefined || spec === "" ? undefined : spec;
}

/**
 * Opens the project's cache, with the remote cache behind it when one is configured. With --no-cache every
 * step runs (nothing is read) and the fresh results replace the old local entries. A cache that cannot be
 * opened (permissions, a read-only disk) costs the speed-up, never the build: the run goes on without it,
 * with a warning; so does a remote cache that is down, unless --remote-cache-required.
 */
export async function openProjectCache(
  root: string,
  flags: CacheFlags,
  onWarning: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProjectCache | undefined> {
  const dir = await projectCacheDir(root, flags);
  const spec = remoteCacheSpec(flags, env);
  if (spec === undefined) {
    if (flags.cacheKeyFile) onWarning("--cache-key-file has no effect without --remote-cache");
    if (flags.remoteCacheRequired)
      throw new CliError("--remote-cache-required needs --remote-cache <url|dir>");
    const { openCache } = await import("../cache/index.js");
    try {
      const cache = await openCache({ root, dir, onWarning, env, read: flags.cache !== false });
      let closing: Promise<void> | undefined;
      return { stepCache: cache, close: () => (closing ??= cache.close()), remoteProblems: () => [] };
    } catch (err) {
      onWarning(`cannot open the cache at ${dir} (${(err as Error).message}); running without it`);
      return undefined;
    }
  }

  const stores = await import("../cache/stores/index.js");
  let signer;
  try {
    signer = stores.loadCacheKey({ file: flags.cacheKeyFile, env });
  } catch (err) {
    throw new CliError(
      `${flags.cacheKeyFile ? "--cache-key-file" : "TRIBUTARY_CACHE_KEY"}: ${(err as Error).message}`,
    );
  }
  // The remote's own warnings (a blob that does not match its digest) are counted with the cache's.
  let warn = onWarning;
  let remote;
  try {
    remote = stores.openRemoteStore(spec, { onWarning: (m) => warn(m) });
  } catch (err) {
    throw new CliError(`--remote-cache: ${(err as Error).message}`);
  }
  if (flags.remoteCacheRequired) {
    try {
      await remote.ping();
    } catch (err) {
      await remote.close();
      throw new CliError(`${(err as Error).message} (--remote-cache-required)`, EXIT.stepFailed);
    }
  }
  try {
    const { cache, store } = await stores.openTieredCache({
      root,
      dir,
      onWarning,
      env,
      read: flags.cache !== false,
      remote,
      signer,
      upload: flags.remoteCacheReadOnly !== true,
    });
    warn = (m) => cache.warn(m);
    let closing: Promise<void> | undefined;
    return {
      stepCache: cache,
      close: () => (closing ??= cache.close().finally(() => store.close())),
      transferOutputs: stores.downloadOutputs(store),
      remoteProblems: () => (flags.remoteCacheRequired ? [...store.failures] : []),
    };
  } catch (err) {
    await remote.close();
    onWarning(`cannot open the cache at ${dir} (${(err as Error).message}); running without it`);
    return undefined;
  }
}
