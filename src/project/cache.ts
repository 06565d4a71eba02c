import type { LocalCache } from "../cache/local-cache.js";
import type { TieredStore } from "../cache/stores/tiered.js";
import type { RemoteCacheSummary } from "../engine/result.js";
import { UserError } from "../engine/user-error.js";
import type { TransferOutputs } from "../engine/transfer-port.js";
import type { StepId } from "../graph/ir.js";

/** How a project uses its cache. Each field has a CLI flag (in parentheses) and an environment default. */
export interface CacheSettings {
  /**
   * false: every step runs and its fresh result replaces the stored one (`--force "*"`). Default true.
   * (`--no-cache`, neither read nor written, is the project's `cache: false`.)
   */
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
   * after every run, also a cancelled one. Safe to call twice. `complete`: the run looked up every step
   * of the flow (it succeeded, for all its outputs): on the first run with a remote cache, what it
   * restored locally is then known to be on the remote, or pending for it (see pending-uploads.ts).
   */
  close(complete?: boolean): Promise<void>;
  /** With a remote cache: what the run moved to and from it (complete after close()). */
  remoteSummary(): RemoteCacheSummary | undefined;
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
  // Not the cache's index module: a run needs neither its maintenance nor its explain formatting.
  const { resolveCacheDir } = await import("../cache/layout.js");
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
  /** Steps whose cached result this run does not use (`--force`): they run and replace their entries. */
  force?: (stepId: StepId) => boolean,
): Promise<ProjectCache | undefined> {
  const dir = await projectCacheDir(root, settings);
  const spec = remoteCacheSpec(settings, env);
  const read = settings.read !== false;
  if (spec === undefined) {
    if (settings.keyFile) onWarning("--cache-key-file has no effect without --remote-cache");
    if (settings.remoteRequired)
      throw new UserError("--remote-cache-required needs --remote-cache <url|dir>");
    const { openCache } = await import("../cache/open-cache.js");
    const { settleSynced } = await import("../cache/pending-uploads.js");
    try {
      const cache = await openCache({ root, dir, onWarning, env, read, force });
      let closing: Promise<void> | undefined;
      // Results saved now are on no remote: a later run with one checks them (see pending-uploads.ts).
      const close = async () => {
        await cache.close();
        await settleSynced(cache.stateDir, { saved: cache.counters.saved > 0 }).catch(() => {});
      };
      return {
        stepCache: cache,
        close: () => (closing ??= close()),
        remoteProblems: () => [],
        remoteSummary: () => undefined,
      };
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
    remote = stores.openRemoteStore(spec, { onWarning: (m) => warn(m), circuit: stores.Circuit.forRun() });
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
      force,
      remote,
      signer,
      upload: settings.remoteReadOnly !== true,
    });
    warn = (m) => cache.warn(m);
    const pending = await import("../cache/pending-uploads.js");
    const upload = settings.remoteReadOnly !== true;
    const wasSynced = upload && pending.isSynced(cache.stateDir, remote.location);
    let summary: RemoteCacheSummary | undefined;
    const close = async (complete: boolean) => {
      try {
        await cache.close();
      } finally {
        // The first run with this remote: what it restored locally may have been built without it.
        if (upload && !wasSynced && complete)
          store.ensureOnRemote(cache.hitKeys(), (key) => cache.recordedEntry(key));
        await store.close();
        summary = await remoteSummaryOf(store, dir, remote.location, upload);
        const saved = cache.counters.saved > 0;
        const synced = store.settled && (wasSynced || complete);
        await pending
          .settleSynced(
            cache.stateDir,
            upload ? { saved, remote: { location: remote.location, synced } } : { saved },
          )
          .catch(() => {});
      }
    };
    let closing: Promise<void> | undefined;
    return {
      stepCache: cache,
      close: (complete = false) => (closing ??= close(complete)),
      transferOutputs: stores.downloadOutputs(store),
      remoteProblems: () => (settings.remoteRequired ? [...store.failures] : []),
      remoteSummary: () => summary,
    };
  } catch (err) {
    await remote.close();
    onWarning(`cannot open the cache at ${dir} (${(err as Error).message}); running without it`);
    return undefined;
  }
}

/** The counts of a tiered store, and how many entries wait for a later run. */
async function remoteSummaryOf(
  store: TieredStore,
  dir: string,
  location: string,
  upload: boolean,
): Promise<RemoteCacheSummary> {
  const c = store.counters;
  let pending = 0;
  if (upload) {
    const { PendingUploads } = await import("../cache/pending-uploads.js");
    pending = (await new PendingUploads(dir, location).list()).length;
  }
  return { fetched: c.remoteEntries, uploaded: c.uploadedEntries, refused: c.refused, pending };
}

/** What the remote cache says about answering a run without running it (see no-op-run.ts). */
export type RemoteOnNoOp = { fullRun: true } | { summary?: RemoteCacheSummary; problems: string[] };

/**
 * For a run answered without the engine (nothing changed), with a remote cache: uploads what earlier runs
 * could not (see pending-uploads.ts). `fullRun`: the remote is not known to have this project's results
 * (they were built without it): the run must look its steps up, and uploads what the remote lacks. With
 * no remote cache, nothing is read.
 */
export async function settleRemoteOnNoOp(
  root: string,
  settings: CacheSettings,
  onWarning: (message: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<RemoteOnNoOp> {
  const spec = remoteCacheSpec(settings, env);
  if (spec === undefined) return { problems: [] };
  const [stores, pending, { Layout }, { LocalDirStore }] = await Promise.all([
    import("../cache/stores/index.js"),
    import("../cache/pending-uploads.js"),
    import("../cache/layout.js"),
    import("../cache/store.js"),
  ]);
  const dir = await projectCacheDir(root, settings);
  const remote = stores.openRemoteStore(spec, { onWarning, circuit: stores.Circuit.forRun() });
  const none = { fetched: 0, uploaded: 0, refused: 0, pending: 0 };
  if (settings.remoteReadOnly) {
    await remote.close();
    return { summary: none, problems: [] };
  }
  if (!pending.isSynced(new Layout(dir).state(root), remote.location)) {
    await remote.close();
    return { fullRun: true };
  }
  if (!pending.hasPendingUploads(dir, remote.location)) {
    await remote.close();
    return { summary: none, problems: [] };
  }
  const store = new stores.TieredStore(new LocalDirStore(dir), remote, {
    signer: stores.loadCacheKey({ file: settings.keyFile, env }),
    pending: new pending.PendingUploads(dir, remote.location),
    onWarning,
  });
  store.drainPending();
  await store.close();
  return {
    summary: await remoteSummaryOf(store, dir, remote.location, true),
    problems: settings.remoteRequired ? [...store.failures] : [],
  };
}
