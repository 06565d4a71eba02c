import { resolve } from "node:path";
import type { RemoteStore } from "../cache/stores/remote.js";
import { UserError } from "../engine/user-error.js";
import type { RemoteWorker } from "../executors/remote/worker.js";
import { remoteCacheSpec } from "./cache.js";
import { redisConnection, type RemoteSettings } from "./remote.js";

export interface WorkerSettings extends RemoteSettings {
  /** This machine's checkout of the project. */
  root: string;
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  shutdownGraceMs?: number;
  /** false: run only function steps, never commands taken from the queue. */
  processSteps?: boolean;
  verbose?: boolean;
  /** Where output files go for orchestrators that do not share this checkout (else $TRIBUTARY_REMOTE_CACHE). */
  remoteCache?: string;
  log: (line: string) => void;
}

/** A started worker, and the remote cache it uploads to (closed with it). */
export interface ProjectWorker {
  worker: RemoteWorker;
  close(): Promise<void>;
}

/** Starts a `tributary worker`: takes ready steps from the queue and runs them from this checkout. */
export async function startProjectWorker(settings: WorkerSettings): Promise<ProjectWorker> {
  const { log } = settings;
  const connection = redisConnection(settings);
  const cacheSpec = remoteCacheSpec({ remote: settings.remoteCache }, process.env);
  let cacheStore: RemoteStore | undefined;
  if (cacheSpec !== undefined) {
    const { openRemoteStore } = await import("../cache/stores/index.js");
    try {
      cacheStore = openRemoteStore(cacheSpec, { onWarning: (m) => log(`warning: ${m}`) });
    } catch (err) {
      throw new UserError(`--remote-cache: ${(err as Error).message}`);
    }
    // Not fatal: the cache may come up later; until then steps with output files fail saying why.
    await cacheStore.ping().then(
      () => log(`output files go to ${cacheStore!.location}`),
      (err: Error) => log(`warning: ${err.message}; steps with output files will fail until it is back`),
    );
  }
  const transferOutputs = cacheStore
    ? (await import("../cache/stores/transfer.js")).uploadOutputs(cacheStore)
    : undefined;
  const { startWorker } = await import("../executors/remote/worker.js");
  const worker = await startWorker({
    ...connection,
    queue: settings.queue,
    prefix: settings.prefix,
    root: resolve(settings.root),
    concurrency: settings.concurrency,
    lockDurationMs: settings.lockDurationMs,
    stalledIntervalMs: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
    shutdownGraceMs: settings.shutdownGraceMs,
    processSteps: settings.processSteps,
    verbose: settings.verbose,
    log,
    transferOutputs,
  });
  return {
    worker,
    close: () => worker.close().finally(() => cacheStore?.close()),
  };
}
