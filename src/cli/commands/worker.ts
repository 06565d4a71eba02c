import type { Command } from "commander";
import { CliError, EXIT } from "../exit-codes.js";
import { queueOptions } from "../options.js";
import { remoteSettingsOf, type QueueFlags } from "../flag-settings.js";

interface WorkerFlags extends QueueFlags {
  redis?: string;
  concurrency?: string;
  root: string;
  lockDuration: string;
  stalledInterval: string;
  maxStalled: string;
  grace: string;
  /** false with --no-process-steps. */
  processSteps?: boolean;
  verbose?: boolean;
  remoteCache?: string;
}

export function registerWorker(program: Command): void {
  const cmd = program
    .command("worker")
    .description(
      "run steps for orchestrators on this machine: pull ready steps from Redis and run them from this checkout",
    )
    .option(
      "--redis <url>",
      "redis://[user:password@]host:port[/db], rediss:// for TLS (default $TRIBUTARY_REDIS)",
    )
    .option("-c, --concurrency <n>", "how many steps may run at once (default: cores)")
    .option(
      "--root <dir>",
      "this machine's checkout of the project: modules, inputs and outputs are under it",
      ".",
    )
    .option(
      "--lock-duration <ms>",
      "a dead worker's steps go back to the queue after about this long",
      "5000",
    )
    .option("--stalled-interval <ms>", "how often workers look for steps of dead workers", "2000")
    .option(
      "--max-stalled <n>",
      "how many times a step may be recovered from dead workers before it fails",
      "2",
    )
    .option(
      "--grace <seconds>",
      "on SIGINT/SIGTERM: how long running steps may finish before they go back to the queue",
      "30",
    )
    .option(
      "--no-process-steps",
      "run only function steps (code from this checkout), never commands taken from the queue",
    )
    .option(
      "--remote-cache <url|dir>",
      "upload process steps' output files to this cache's CAS, for orchestrators that do not share this checkout: http(s)://[user:password@]host[:port][/prefix] or a shared directory (default $TRIBUTARY_REMOTE_CACHE)",
    )
    .option("-v, --verbose", "log every step");
  for (const o of queueOptions()) cmd.addOption(o);
  cmd.action(async (flags: WorkerFlags) => {
    process.exitCode = await workerCommand(flags);
  });
}

function whole(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${flag} needs a whole number of at least ${min}, got "${value}"`);
  return n;
}

/** Runs a worker until SIGINT/SIGTERM: the first stops it gracefully, a second one at once. */
async function workerCommand(flags: WorkerFlags): Promise<number> {
  const url = flags.redis ?? process.env.TRIBUTARY_REDIS;
  if (!url) throw new CliError("tributary worker needs --redis redis://host:port (or $TRIBUTARY_REDIS)");
  remoteSettingsOf(url, "--redis", flags);
  const graceSeconds = Number(flags.grace);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new CliError(`--grace needs a number of seconds, got "${flags.grace}"`);
  }
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  // BullMQ and ioredis load only for this command, never on other commands' start-up.
  const { startProjectWorker } = await import("../../project/worker.js");
  const running = await startProjectWorker({
    ...remoteSettingsOf(url, "--redis", flags),
    root: flags.root,
    concurrency: flags.concurrency === undefined ? undefined : whole(flags.concurrency, "--concurrency", 1),
    lockDurationMs: whole(flags.lockDuration, "--lock-duration", 100),
    stalledIntervalMs: whole(flags.stalledInterval, "--stalled-interval", 100),
    maxStalledCount: whole(flags.maxStalled, "--max-stalled", 0),
    shutdownGraceMs: graceSeconds * 1000,
    processSteps: flags.processSteps !== false,
    verbose: flags.verbose,
    remoteCache: flags.remoteCache,
    log,
  });
  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        log(`${sig}: finishing running steps (again to return them to the queue at once)`);
        void running.close().then(done, done);
      } else if (signals === 2) {
        log(`${sig}: stopping running steps and returning them to the queue (again to exit at once)`);
        running.worker.abandon();
      } else process.exit(EXIT.interrupted);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  return EXIT.ok;
}
