import type { LocalCache } from "../cache/local-cache.js";
import { UserError } from "../engine/user-error.js";
import type { TransferOutputs } from "../engine/transfer-port.js";

/** How a project uses its cache. Each field has a CLI flag (in parentheses) and an environment default. */
export interface CacheSettings {
  /** false: every step runs and its fresh result replaces the stored one (`--no-cache`). Default true. */
  read?: boolean;
  /** Where the cache lives (`--cache-dir`; else $TRIBUTARY_CACHE_DIR; else <root>/.tributary/cache). */
  dir?: string;
  /** A shared cache behind the local one: http(s):// URL or directory (`--remote-cache`; $TRIBUTARY_REMOTE_CACHE). */
  remote?: string;
  /** File with the key that signs and checks remote entries (`--cache-key-file`; $TRIBUTARY_CACHE_KEY). */
  keyFile?: string;
  /** Read the remote cache, never upload (`--remote-cache-read-only`). */
  remoteReadOnly?: boolean;
  /** An unreachable or failing remote cache fails the run instead of warning (`--remote-cache-required`). */
  remoteRequired?: boolean;
}

export interface ProjectCache {
  stepCache: LocalCache;
  /**
   * Flushes the index, stat cache and explain data, then waits for uploads to the remote cache; call it
   * after every run, also a cancelled one. Safe to call twice.
   */
  close(): Promise<void>;
  /** With a remote cache: fetches remote workers' output files from its CAS (for remote execution). */
  transferOutputs?: TransferOutputs;
  /**
   * With remoteRequired: what failed on the remote cache during the run (complete after close()); the
   * run fails when it is not empty. Always empty otherwise.
   */
  remoteProblems(): string[];
}

/** The cache directory: the setting, else $TRIBUTARY_CACHE_DIR, else <root>/.tributary/cache. */
export async function projectCacheDir(root: string, settings: CacheSettings): Promise<string> {
  const { resolveCacheDir } = await import("../cache/index.js");
  return resolveCacheDir(root, { flag: settings.dir });
}

/** The remote cache: the setting, else $TRIBUTARY_REMOTE_CACHE, else none. */
export function remoteCacheSpec(settings: { remote?: string }, env: NodeJS.ProcessEnv): string | undefined {
  const spec = settings.remote ?? env.TRIBUTARY_REMOTE_CACHE;
  return spec === undefined || spec === "" ? undefined : spec;
}

/**
 * Checks what a run would find wrong with the settings before it starts: a remote-cache key that cannot be
 * used, a required remote cache that cannot be reached, a required one that is not configured. Cheap when
 * there is no remote cache (the common no-op run).
 */
export async function checkCacheSettings(settings: CacheSettings, env: NodeJS.ProcessEnv): Promise<void> {
  const spec = remoteCacheSpec(settings, env);
  if (spec === undefined) {
    if (settings.remoteRequired)
      throw new UserError("--remote-cache-required needs --remote-cache <url|dir>");
    return;
  }
  const stores = await import("../cache/stores/index.js");
  try {
    stores.loadCacheKey({ file: settings.keyFile, env });
  } catch (err) {
    throw new UserError(
      `${settings.keyFile ? "--cache-key-file" : "TRIBUTARY_CACHE_KEY"}: ${(err as Error).message}`,
    );
  }
  if (!settings.remoteRequired) return;
  let remote;
  try {
    remote = stores.openRemoteStore(spec, { onWarning: () => {} });
  } catch (err) {
    throw new UserError(`--remote-cache: ${(err as Error).message}`);
  }
  try {
    await remote.ping();
  } catch (err) {
    throw new UserError(`${(err as Error).message} (--remote-cache-required)`, 1);
  } finally {
    await remote.close();
  }
}

/**
 * Opens the project's cache, with the remote cache behind it when one is configured. A cache that cannot
 * be opened (permissions, a read-only disk) costs the speed-up, never the build: the run goes on without
 * it, with a warning; so does a remote cache that is down, unless it is required.
 */
export async function openProjectCache(
  root: string,
  settings: CacheSettings,
  onWarning: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProjectCache | undefined> {
  const dir = await projectCacheDir(root, settings);
  const spec = remoteCacheSpec(settings, env);
  const read = settings.read !== false;
  if (spec === undefined) {
    if (settings.keyFile) onWarning("--cache-key-file has no effect without --remote-cache");
    if (settings.remoteRequired)
      throw new UserError("--remote-cache-required needs --remote-cache <url|dir>");
    const { openCache } = await import("../cache/index.js");
    try {
      const cache = await openCache({ root, dir, onWarning, env, read });
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
    signer = stores.loadCacheKey({ file: settings.keyFile, env });
  } catch (err) {
    throw new UserError(
      `${settings.keyFile ? "--cache-key-file" : "TRIBUTARY_CACHE_KEY"}: ${(err as Error).message}`,
    );
  }
  // The remote's own warnings (a blob that does not match its digest) are counted with the cache's.
  let warn = onWarning;
  let remote;
  try {
    remote = stores.openRemoteStore(spec, { onWarning: (m) => warn(m) });
  } catch (err) {
    throw new UserError(`--remote-cache: ${(err as Error).message}`);
  }
  if (settings.remoteRequired) {
    try {
      await remote.ping();
    } catch (err) {
      await remote.close();
      throw new UserError(`${(err as Error).message} (--remote-cache-required)`, 1);
    }
  }
  try {
    const { cache, store } = await stores.openTieredCache({
      root,
      dir,
      onWarning,
      env,
      read,
      remote,
      signer,
      upload: settings.remoteReadOnly !== true,
    });
    warn = (m) => cache.warn(m);
    let closing: Promise<void> | undefined;
    return {
      stepCache: cache,
      close: () => (closing ??= cache.close().finally(() => store.close())),
      transferOutputs: stores.downloadOutputs(store),
      remoteProblems: () => (settings.remoteRequired ? [...store.failures] : []),
    };
  } catch (err) {
    await remote.close();
    onWarning(`cannot open the cache at ${dir} (${(err as Error).message}); running without it`);
    return undefined;
  }
}
