/**
 * The orchestrator's side of distributed execution: a {@link RemoteExecutor} that hands each ready step to
 * BullMQ and waits for its outcome. The engine keeps the graph, the priorities and every limit, so at most
 * as many jobs are in Redis as the engine lets steps run; the executor only moves them and watches them.
 * It puts together the jobs in flight (submitting and settling), their cancellation, the watchdog
 * (heartbeat, Redis outage, lost jobs), and the fetching of outputs.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Queue, QueueEvents } from "./bullmq-ioredis.js";
import { Redis } from "./bullmq-ioredis.js";
import type { Attempt, Executor } from "../../engine/executor.js";
import { stoppedError, type Outcome } from "../../engine/outcome.js";
import { commandLine } from "../process/spec.js";
import type { RemoteOutcome, RemoteTask } from "./task.js";
import type { StepAction } from "../../graph/ir.js";
import { CodeDigests } from "./code-digest.js";
import { fetchOutputs } from "./fetch-outputs.js";
import { JobCancellation } from "./job-cancellation.js";
import { JobsInFlight } from "./jobs-in-flight.js";
import { abortError, failure } from "./pending-job.js";
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  bullConnection,
  channels,
  plainConnection,
  redactUrl,
  subscriber,
  withDeadline,
  type ConnectionSettings,
  type JobData,
  type TransferOutputs,
  type WireOutcome,
} from "./protocol.js";
import { heartbeat, Watchdog } from "./watchdog.js";
import { toWireTask, whyInputsCannotTravel } from "./wire-task.js";

export interface RedisExecutorOptions extends ConnectionSettings {
  /** BullMQ queue name (default "tributary"); workers must use the same. */
  queue?: string;
  /** BullMQ key prefix (default "bull"). */
  prefix?: string;
  /** The project root: module files and output paths are sent relative to it. */
  projectRoot: string;
  /**
   * How often jobs in flight are checked to still exist in Redis, and the heartbeat refreshed (default
   * 2000 ms). A job lost with Redis' data is noticed within about this long after Redis is back.
   */
  checkIntervalMs?: number;
  /** How many times a step whose job vanished from Redis is enqueued again before it fails (default 3). */
  maxRequeues?: number;
  /** Redis unreachable for this long fails the steps in flight, with a message saying so (default 60 s). */
  redisDownTimeoutMs?: number;
  /** After a cancel, how long to wait for the worker to confirm the step stopped (default 15 s). */
  cancelWaitMs?: number;
  /** Finished jobs stay in Redis this long, for dashboards and late checks (default 600 s). */
  keepJobsSeconds?: number;
  /** Fetches output files from the remote cache; without it, workers must share the project directory. */
  transferOutputs?: TransferOutputs;
  /** Problems that do not fail a step (a job enqueued again after Redis lost it). */
  onWarning?: (message: string) => void;
}

/** The executor plus what a CLI or a test may want to know about it. */
export interface RedisExecutor extends Executor {
  /** Runs one task on a worker (what `run` does for an attempt, without the attempt). */
  runTask(
    task: RemoteTask,
    signal: AbortSignal,
    onOutput?: (stream: "stdout" | "stderr", chunk: string) => void,
  ): Promise<RemoteOutcome>;
  /** This orchestrator's id in Redis (job ids start with it). */
  readonly client: string;
  /** Job ids in flight, by step id (for tests and diagnostics). */
  jobsInFlight(): Map<string, string>;
}

/** Connects to Redis and resolves once the queue and its event stream are ready. */
export async function createRedisExecutor(options: RedisExecutorOptions): Promise<RedisExecutor> {
  const e = new BullExecutor(options);
  try {
    await e.start();
  } catch (err) {
    await e.close();
    throw err;
  }
  return e;
}

class BullExecutor implements RedisExecutor {
  readonly name = "remote";
  readonly client = `${hostname().replace(/[^A-Za-z0-9.-]/g, "_")}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private readonly root: string;
  private readonly ch: ReturnType<typeof channels>;
  private readonly queue: Queue<JobData, WireOutcome>;
  private readonly events: QueueEvents;
  private readonly cmd: Redis;
  private readonly sub: { client: Redis; ready: Promise<void> };
  private readonly digests: CodeDigests;
  private readonly jobs: JobsInFlight;
  private readonly watchdog: Watchdog;
  private closed = false;

  constructor(private readonly options: RedisExecutorOptions) {
    this.root = resolve(options.projectRoot);
    const queueName = options.queue ?? DEFAULT_QUEUE;
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ch = channels(prefix, queueName);
    this.digests = new CodeDigests(this.root);
    const connection = bullConnection(options);
    this.queue = new Queue<JobData, WireOutcome>(queueName, { connection, prefix });
    this.events = new QueueEvents(queueName, { connection, prefix, blockingTimeout: 5000 });
    this.cmd = new Redis(options.url, plainConnection(options));
    const cancellation = new JobCancellation(
      this.queue,
      this.cmd,
      this.ch.cancel,
      options.cancelWaitMs ?? 15_000,
    );
    this.jobs = new JobsInFlight(
      this.queue,
      {
        client: this.client,
        queueName,
        outputChannel: this.ch.output(this.client),
        keepJobsSeconds: options.keepJobsSeconds ?? 600,
        maxRequeues: options.maxRequeues ?? 3,
        refreshHeartbeat: () => void this.heartbeat().catch(() => {}),
      },
      cancellation,
    );
    this.watchdog = new Watchdog(this.jobs, this.queue, () => this.heartbeat(), {
      intervalMs: options.checkIntervalMs ?? 2000,
      redisDownTimeoutMs: options.redisDownTimeoutMs ?? 60_000,
      url: options.url,
      onWarning: (message) => this.options.onWarning?.(message),
    });
    this.sub = subscriber(options, [this.ch.output(this.client)], (_channel, message) =>
      this.jobs.onOutput(message),
    );
    // Connection errors are retried forever by ioredis; the watchdog decides when an outage is too long.
    const ignore = () => {};
    this.queue.on("error", ignore);
    this.events.on("error", ignore);
    this.cmd.on("error", ignore);
  }

  private heartbeat(): Promise<unknown> {
    return heartbeat(this.cmd, this.ch.heartbeat(this.client));
  }

  async start(): Promise<void> {
    this.events.on("completed", ({ jobId, returnvalue }) => this.jobs.settle(jobId, returnvalue as unknown));
    this.events.on("failed", ({ jobId, failedReason }) => this.jobs.settleFailed(jobId, failedReason));
    const ready = Promise.all([
      this.queue.waitUntilReady(),
      this.events.waitUntilReady(),
      this.sub.ready,
      this.heartbeat(),
    ]);
    const timeoutMs = this.options.redisDownTimeoutMs ?? 60_000;
    await withDeadline(
      ready,
      Math.min(timeoutMs, 15_000),
      `cannot reach Redis at ${redactUrl(this.options.url)}`,
    );
    this.watchdog.start();
  }

  accepts(action: StepAction): boolean {
    if (action.kind === "process") return true;
    return action.kind === "function" && action.ref !== undefined;
  }

  jobsInFlight(): Map<string, string> {
    return this.jobs.byStep();
  }

  commandOf(attempt: Attempt): string[] | undefined {
    return attempt.step.action.kind === "process" ? commandLine(attempt) : undefined;
  }

  /** An attempt as a task: its declared env vars travel by value, since the worker has its own env. */
  async run(attempt: Attempt): Promise<Outcome> {
    const step = attempt.step;
    const env: Record<string, string> = {};
    for (const name of step.options.env ?? []) {
      const v = attempt.env[name];
      if (v !== undefined) env[name] = v;
    }
    const task: RemoteTask = {
      stepId: step.id,
      attempt: attempt.attempt,
      module: step.module,
      action: step.action as RemoteTask["action"],
      args: attempt.args as unknown[],
      outputs: attempt.outputs as string[],
      timeoutMs: step.options.timeoutMs,
      stdoutLimit: attempt.stdoutLimit,
      killGraceMs: attempt.killGraceMs,
      priority: step.options.priority ?? 0,
      env,
    };
    const o = await this.runTask(task, attempt.signal, attempt.onOutput);
    // Stopped by the engine: whatever the worker saw of it, the engine's reason is the outcome.
    if (!o.ok && attempt.stopped) return { ok: false, error: stoppedError(attempt.stopped), tail: o.tail };
    return o;
  }

  async runTask(
    task: RemoteTask,
    signal: AbortSignal,
    onOutput?: (stream: "stdout" | "stderr", chunk: string) => void,
  ): Promise<RemoteOutcome> {
    if (this.closed) return failure({ kind: "infra", message: "the remote executor is closed" });
    if (signal.aborted) return failure(abortError(signal.reason, "before it started"));
    const why = whyInputsCannotTravel(task);
    if (why) {
      return failure({ kind: "value", message: `cannot send its inputs to a remote worker: ${why}` });
    }
    let wire: RemoteTask;
    try {
      wire = await toWireTask(task, this.root, this.digests);
    } catch (err) {
      return failure({ kind: "infra", message: (err as Error).message });
    }
    if (signal.aborted) return failure(abortError(signal.reason, "before it started"));
    const outcome = await this.jobs.submit(wire, signal, onOutput);
    if (!outcome.ok) return { ok: false, error: outcome.error, tail: outcome.tail };
    if (wire.outputs.length > 0) {
      const problem = await fetchOutputs(
        outcome.value,
        (outcome as { worker?: string }).worker,
        (outcome as { modes?: number[] }).modes,
        this.root,
        this.options,
      );
      if (problem) return failure({ kind: "infra", message: problem });
    }
    return { ok: true, value: outcome.value };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchdog.stop();
    this.jobs.failAll("the remote executor was closed while the step ran");
    await withDeadline(this.cmd.del(this.ch.heartbeat(this.client)), 1000).catch(() => {});
    // Graceful where Redis answers, forced where it does not: close() never hangs on a dead server.
    await Promise.all(
      [
        withDeadline(this.events.close(), 3000).catch(() => withDeadline(this.events.disconnect(), 1000)),
        withDeadline(this.queue.close(), 3000).catch(() => withDeadline(this.queue.disconnect(), 1000)),
        withDeadline(this.sub.client.quit(), 1000).catch(() => this.sub.client.disconnect()),
        withDeadline(this.cmd.quit(), 1000).catch(() => this.cmd.disconnect()),
      ].map((p) => p.catch(() => {})),
    );
  }
}
