import type { Command } from "commander";

export interface WorkerFlags {
  redis?: string;
  concurrency?: string;
  queue?: string;
  prefix?: string;
  root: string;
  lockDuration: string;
  stalledInterval: string;
  maxStalled: string;
  grace: string;
  tlsCa?: string;
  /** false with --no-process-steps. */
  processSteps?: boolean;
  verbose?: boolean;
  /** http(s):// URL or shared directory: output files go to its CAS (or $TRIBUTARY_REMOTE_CACHE). */
  remoteCache?: string;
}

export function registerWorker(program: Command): void {
  program
    .command("worker")
    .description(
      "run steps for orchestrators on this machine: pull ready steps from Redis and run them from this checkout",
    )
    .option(
      "--redis <url>",
      "redis://[user:password@]host:port[/db], rediss:// for TLS (default $TRIBUTARY_REDIS)",
    )
    .option("-c, --concurrency <n>", "how many steps may run at once (default: cores)")
    .option("--queue <name>", "the queue orchestrators send steps to (default tributary)")
    .option("--prefix <prefix>", "BullMQ key prefix in Redis (default bull)")
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
      "--tls-ca <file>",
      "PEM file of the CA that signed the Redis server's certificate (with rediss://)",
    )
    .option(
      "--no-process-steps",
      "run only function steps (code from this checkout), never commands taken from the queue",
    )
    .option(
      "--remote-cache <url|dir>",
      "upload process steps' output files to this cache's CAS, for orchestrators that do not share this checkout: http(s)://[user:password@]host[:port][/prefix] or a shared directory (default $TRIBUTARY_REMOTE_CACHE)",
    )
    .option("-v, --verbose", "log every step")
    .action(async (flags: WorkerFlags) => {
      // BullMQ and ioredis load only for this command, never on other commands' start-up.
      const { workerCommand } = await import("../actions/worker.js");
      process.exitCode = await workerCommand(flags);
    });
}
