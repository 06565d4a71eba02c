import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { RedisOptions } from "ioredis";
import { startWorker } from "../../executors/remote/worker.js";
import type { RemoteStore } from "../../cache/stores/remote.js";
import type { WorkerFlags } from "../commands/worker.js";
import { remoteCacheSpec } from "../project-cache.js";
import { CliError, EXIT } from "../exit-codes.js";

function whole(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${flag} needs a whole number of at least ${min}, got "${value}"`);
  return n;
}

/** Runs a worker until SIGINT/SIGTERM: the first stops it gracefully, a second one at once. */
export async function workerCommand(flags: WorkerFlags): Promise<number> {
  const url = flags.redis ?? process.env.TRIBUTARY_REDIS;
  if (!url) throw new CliError("tributary worker needs --redis redis://host:port (or $TRIBUTARY_REDIS)");
  if (!/^rediss?:\/\//.test(url)) {
    throw new CliError(`--redis needs a redis:// or rediss:// URL, got "${url}"`);
  }
  const concurrency =
    flags.concurrency === undefined ? undefined : whole(flags.concurrency, "--concurrency", 1);
  const graceSeconds = Number(flags.grace);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new CliError(`--grace needs a number of seconds, got "${flags.grace}"`);
  }
  const redisOptions: RedisOptions = {};
  if (flags.tlsCa) {
    try {
      redisOptions.tls = { ca: readFileSync(flags.tlsCa) };
    } catch (err) {
      throw new CliError(`--tls-ca: cannot read ${flags.tlsCa}: ${(err as Error).message}`);
    }
  }
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const cacheSpec = remoteCacheSpec(flags, process.env);
  let cacheStore: RemoteStore | undefined;
  if (cacheSpec !== undefined) {
    const { openRemoteStore } = await import("../../cache/stores/index.js");
    try {
      cacheStore = openRemoteStore(cacheSpec, { onWarning: (m) => log(`warning: ${m}`) });
    } catch (err) {
      throw new CliError(`--remote-cache: ${(err as Error).message}`);
    }
    // Not fatal: the cache may come up later; until then steps with output files fail saying why.
    await cacheStore.ping().then(
      () => log(`output files go to ${cacheStore!.location}`),
      (err: Error) => log(`warning: ${err.message}; steps with output files will fail until it is back`),
    );
  }
  const transferOutputs = cacheStore
    ? (await import("../../cache/stores/transfer.js")).uploadOutputs(cacheStore)
    : undefined;
  const worker = await startWorker({
    url,
    redisOptions,
    queue: flags.queue,
    prefix: flags.prefix,
    root: resolve(flags.root),
    concurrency,
    lockDurationMs: whole(flags.lockDuration, "--lock-duration", 100),
    stalledIntervalMs: whole(flags.stalledInterval, "--stalled-interval", 100),
    maxStalledCount: whole(flags.maxStalled, "--max-stalled", 0),
    shutdownGraceMs: graceSeconds * 1000,
    processSteps: flags.processSteps !== false,
    verbose: flags.verbose,
    log,
    transferOutputs,
  });
  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        log(`${sig}: finishing running steps (again to return them to the queue at once)`);
        void worker
          .close()
          .finally(() => cacheStore?.close())
          .then(done, done);
      } else if (signals === 2) {
        log(`${sig}: stopping running steps and returning them to the queue (again to exit at once)`);
        worker.abandon();
      } else process.exit(EXIT.interrupted);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  return EXIT.ok;
}
