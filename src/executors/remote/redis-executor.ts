/**
 * The orchestrator's side of distributed execution: a {@link RemoteExecutor} that hands each ready step to
 * BullMQ and waits for its outcome. The engine keeps the graph, the priorities and every limit, so at most
 * as many jobs are in Redis as the engine lets steps run; this file only moves them and watches them.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents, type JobsOptions } from "./bullmq-ioredis.js";
import { Redis } from "./bullmq-ioredis.js";
import { digestFile } from "../../graph/digest.js";
import type { Attempt, Executor } from "../../engine/executor.js";
import { stoppedError, type Outcome } from "../../engine/outcome.js";
import type { StepError } from "../../engine/result.js";
import { commandLine } from "../process/spec.js";
import type { RemoteOutcome, RemoteTask } from "./task.js";
import { isFileValue, type FileValue, type StepAction } from "../../graph/ir.js";
import { CodeDigests } from "./code-digest.js";
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  PROTOCOL_VERSION,
  bullConnection,
  bullPriority,
  channels,
  plainConnection,
  redactUrl,
  sleep,
  subscriber,
  whyNotWireData,
  withDeadline,
  type CancelMessage,
  type ConnectionSettings,
  type JobData,
  type OutputMessage,
  type TransferOutputs,
  type WireOutcome,
} from "./protocol.js";

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

const HEARTBEAT_TTL_MS = 30_000;

interface Pending {
  jobId: string;
  data: JobData;
  opts: JobsOptions;
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
  /** Output messages received so far. */
  received: number;
  added: boolean;
  /** When the job was (last) added or checked. */
  since: number;
  requeues: number;
  cancelling?: { kind: "cancelled" | "timeout"; since: number; timer?: NodeJS.Timeout };
  done: boolean;
  finish(o: WireOutcome | RemoteOutcome): void;
}

class BullExecutor implements RedisExecutor {
  readonly name = "remote";
  readonly client = `${hostname().replace(/[^A-Za-z0-9.-]/g, "_")}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private readonly root: string;
  private readonly queueName: string;
  private readonly ch: ReturnType<typeof channels>;
  private readonly queue: Queue<JobData, WireOutcome>;
  private readonly events: QueueEvents;
  private readonly cmd: Redis;
  private readonly sub: { client: Redis; ready: Promise<void> };
  private readonly digests: CodeDigests;
  private readonly pending = new Map<string, Pending>();
  private readonly checkIntervalMs: number;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private downSince: number | undefined;
  private closed = false;

  constructor(private readonly options: RedisExecutorOptions) {
    this.root = resolve(options.projectRoot);
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ch = channels(prefix, this.queueName);
    this.checkIntervalMs = options.checkIntervalMs ?? 2000;
    this.digests = new CodeDigests(this.root);
    const connection = bullConnection(options);
    this.queue = new Queue<JobData, WireOutcome>(this.queueName, { connection, prefix });
    this.events = new QueueEvents(this.queueName, { connection, prefix, blockingTimeout: 5000 });
    this.cmd = new Redis(options.url, plainConnection(options));
    this.sub = subscriber(options, [this.ch.output(this.client)], (_channel, message) =>
      this.onOutput(message),
    );
    // Connection errors are retried forever by ioredis; the watchdog decides when an outage is too long.
    const ignore = () => {};
    this.queue.on("error", ignore);
    this.events.on("error", ignore);
    this.cmd.on("error", ignore);
  }

  async start(): Promise<void> {
    this.events.on("completed", ({ jobId, returnvalue }) => this.settle(jobId, returnvalue as unknown));
    this.events.on("failed", ({ jobId, failedReason }) => this.settleFailed(jobId, failedReason));
    const ready = Promise.all([
      this.queue.waitUntilReady(),
      this.events.waitUntilReady(),
      this.sub.ready,
      this.cmd.set(this.ch.heartbeat(this.client), "1", "PX", HEARTBEAT_TTL_MS),
    ]);
    const timeoutMs = this.options.redisDownTimeoutMs ?? 60_000;
    await withDeadline(
      ready,
      Math.min(timeoutMs, 15_000),
      `cannot reach Redis at ${redactUrl(this.options.url)}`,
    );
    this.timer = setInterval(() => void this.tick(), this.checkIntervalMs);
    this.timer.unref();
  }

  accepts(action: StepAction): boolean {
    if (action.kind === "process") return true;
    return action.kind === "function" && action.ref !== undefined;
  }

  jobsInFlight(): Map<string, string> {
    const m = new Map<string, string>();
    for (const p of this.pending.values()) m.set(p.data.task.stepId, p.jobId);
    return m;
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
    // An argument that is undefined (a step that returned nothing) travels as a hole the worker restores.
    const why = task.args.reduce<string | undefined>(
      (w, a, k) => w ?? (a === undefined ? undefined : whyNotWireData(a, `input[${k}]`)),
      undefined,
    );
    if (why) {
      return failure({ kind: "value", message: `cannot send its inputs to a remote worker: ${why}` });
    }
    let wire: RemoteTask;
    try {
      wire = await this.wireTask(task);
    } catch (err) {
      return failure({ kind: "infra", message: (err as Error).message });
    }
    if (signal.aborted) return failure(abortError(signal.reason, "before it started"));
    const outcome = await this.submit(wire, signal, onOutput);
    if (!outcome.ok) return { ok: false, error: outcome.error, tail: outcome.tail };
    if (wire.outputs.length > 0) {
      const problem = await this.fetchOutputs(
        outcome.value,
        (outcome as { worker?: string }).worker,
        (outcome as { modes?: number[] }).modes,
      );
      if (problem) return failure({ kind: "infra", message: problem });
    }
    return { ok: true, value: outcome.value };
  }

  /** The task as it travels: plain data, module files relative to the root, the code digest added. */
  private async wireTask(task: RemoteTask): Promise<RemoteTask> {
    const a = task.action;
    let action: RemoteTask["action"];
    let codeDigest = task.codeDigest;
    if (a.kind === "process") {
      action = { kind: "process" };
      if (a.shell) action.shell = true;
      if (a.env) action.env = a.env;
      if (a.cwd !== undefined) action.cwd = a.cwd;
    } else {
      if (!a.ref) throw new Error(`step ${task.stepId} has no module file, so it cannot run on a worker`);
      const abs = a.ref.file.startsWith("file:") ? fileURLToPath(a.ref.file) : resolve(this.root, a.ref.file);
      const rel = relative(this.root, abs);
      if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
        throw new Error(
          `module file ${abs} is outside the project root ${this.root}: workers load modules from their own checkout of the project`,
        );
      }
      action = { kind: "function", ref: { file: rel.split(sep).join("/"), exportName: a.ref.exportName } };
      if (a.thread) action.thread = true;
      try {
        codeDigest ??= await this.digests.get(abs);
      } catch (err) {
        throw new Error(`cannot read module ${rel}: ${(err as Error).message}`);
      }
    }
    const holes = task.args.flatMap((a, k) => (a === undefined ? [k] : []));
    const wire: RemoteTask & { undefinedArgs?: number[] } = {
      stepId: task.stepId,
      attempt: task.attempt,
      module: task.module,
      action,
      args: holes.length > 0 ? task.args.map((a) => (a === undefined ? null : a)) : task.args,
      outputs: task.outputs,
      priority: task.priority,
    };
    if (task.timeoutMs !== undefined) wire.timeoutMs = task.timeoutMs;
    if (task.stdoutLimit !== undefined && a.kind === "process") wire.stdoutLimit = task.stdoutLimit;
    if (task.killGraceMs !== undefined && a.kind === "process") wire.killGraceMs = task.killGraceMs;
    if (task.env && Object.keys(task.env).length > 0) wire.env = task.env;
    if (codeDigest !== undefined) wire.codeDigest = codeDigest;
    if (holes.length > 0) wire.undefinedArgs = holes;
    return wire;
  }

  private submit(
    task: RemoteTask,
    signal: AbortSignal,
    onOutput?: (stream: "stdout" | "stderr", chunk: string) => void,
  ): Promise<WireOutcome | RemoteOutcome> {
    return new Promise((resolveOutcome) => {
      const keep = { age: this.options.keepJobsSeconds ?? 600 };
      const data: JobData = { v: PROTOCOL_VERSION, task, client: this.client };
      if (onOutput) data.out = this.ch.output(this.client);
      const onAbort = () =>
        this.cancel(p, (signal.reason as { kind?: string })?.kind === "timeout" ? "timeout" : "cancelled");
      const p: Pending = {
        jobId: "",
        data,
        opts: {
          priority: bullPriority(task.priority),
          attempts: 1,
          removeOnComplete: keep,
          removeOnFail: keep,
        },
        onOutput,
        received: 0,
        added: false,
        since: 0,
        requeues: 0,
        done: false,
        finish: (o) => {
          if (p.done) return;
          p.done = true;
          this.pending.delete(p.jobId);
          signal.removeEventListener("abort", onAbort);
          if (p.cancelling?.timer) clearInterval(p.cancelling.timer);
          resolveOutcome(o);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.enqueue(p);
    });
  }

  private enqueue(p: Pending): void {
    if (p.jobId) this.pending.delete(p.jobId);
    p.jobId = `${this.client}-${++this.seq}`;
    p.added = false;
    this.pending.set(p.jobId, p);
    const jobId = p.jobId;
    this.queue.add(p.data.task.module, p.data, { ...p.opts, jobId }).then(
      () => {
        if (p.jobId !== jobId) return;
        if (p.done) {
          // Failed meanwhile (Redis was down too long): nobody waits for this job any more.
          this.queue.remove(jobId).catch(() => {});
          return;
        }
        p.added = true;
        p.since = Date.now();
        if (p.cancelling) this.cancel(p, p.cancelling.kind);
      },
      (err: Error) => {
        if (p.jobId === jobId) {
          p.finish(failure({ kind: "infra", message: `could not enqueue it in Redis: ${err.message}` }));
        }
      },
    );
  }

  private settle(jobId: string, returnvalue: unknown): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    const o = returnvalue as WireOutcome | null;
    if (!o || typeof o !== "object" || typeof o.ok !== "boolean") {
      p.finish(
        failure({
          kind: "infra",
          message: `job ${jobId} completed without a Tributary outcome (is a non-Tributary worker consuming queue "${this.queueName}"?)`,
        }),
      );
      return;
    }
    if (p.cancelling && !o.ok && o.error.kind !== p.cancelling.kind) {
      // Stopped because we asked: whatever the worker saw (a killed process), the step was cancelled.
      p.finish({ ...o, error: abortError({ kind: p.cancelling.kind }) });
      return;
    }
    if (o.dropped && !p.cancelling && p.requeues < (this.options.maxRequeues ?? 3)) {
      // A worker took us for gone (our heartbeat expired during a long Redis outage): we are not.
      p.requeues++;
      this.cmd.set(this.ch.heartbeat(this.client), "1", "PX", HEARTBEAT_TTL_MS).catch(() => {});
      this.enqueue(p);
      return;
    }
    if (p.onOutput && (o.messages ?? 0) > p.received) {
      // Output travels on another connection: give its last messages a moment to arrive.
      const until = Date.now() + 1000;
      const wait = setInterval(() => {
        if (p.received >= (o.messages ?? 0) || Date.now() > until || p.done) {
          clearInterval(wait);
          p.finish(o);
        }
      }, 5);
      return;
    }
    p.finish(o);
  }

  private settleFailed(jobId: string, failedReason: string | undefined): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    const reason = failedReason ?? "unknown reason";
    const message = /stalled more than allowable limit/.test(reason)
      ? `the workers that ran it died or stopped responding too many times (BullMQ: ${reason}); see the workers' --max-stalled`
      : `a worker failed it: ${reason}`;
    p.finish(failure({ kind: "infra", message }));
  }

  private onOutput(message: string): void {
    let m: OutputMessage;
    try {
      m = JSON.parse(message) as OutputMessage;
    } catch {
      return;
    }
    const p = this.pending.get(m.j);
    if (!p?.onOutput || p.done) return;
    p.received++;
    p.onOutput(m.s, m.c);
  }

  private cancel(p: Pending, kind: "cancelled" | "timeout"): void {
    if (p.done) return;
    const first = !p.cancelling;
    p.cancelling ??= { kind, since: Date.now() };
    if (!p.added) return; // enqueue() calls again once the job exists
    const jobId = p.jobId;
    // A job still waiting is simply removed; one running (locked) is stopped by its worker.
    this.queue.remove(jobId).then(
      (n) => {
        if (n === 1 && p.jobId === jobId) p.finish(failure(abortError({ kind }, "before it started")));
        else this.publishCancel(p);
      },
      () => this.publishCancel(p),
    );
    if (!first || p.cancelling.timer) return;
    const waitMs = this.options.cancelWaitMs ?? 15_000;
    p.cancelling.timer = setInterval(() => {
      if (Date.now() - p.cancelling!.since < waitMs) return this.publishCancel(p);
      const what = kind === "timeout" ? "timed out" : "cancelled";
      p.finish(
        failure({
          kind,
          message: `${what}; no worker confirmed within ${Math.round(waitMs / 1000)}s that the step stopped`,
        }),
      );
    }, 1000);
    p.cancelling.timer.unref();
  }

  private publishCancel(p: Pending): void {
    if (p.done || !p.cancelling) return;
    const msg: CancelMessage = { j: p.jobId, kind: p.cancelling.kind };
    this.cmd.publish(this.ch.cancel, JSON.stringify(msg)).catch(() => {});
  }

  /** Output files: fetched through the hook, or checked to be visible here with the same content. */
  private async fetchOutputs(
    value: unknown,
    worker: string | undefined,
    modes: number[] | undefined,
  ): Promise<string | undefined> {
    const files = (Array.isArray(value) ? value : [value]).filter(isFileValue) as FileValue[];
    if (this.options.transferOutputs) {
      try {
        const withModes = files.map((f, i) => {
          const mode = modes?.[i];
          return Number.isInteger(mode) ? { ...f, mode: mode! & 0o777 } : f;
        });
        await this.options.transferOutputs(withModes, { root: this.root });
        return undefined;
      } catch (err) {
        return `could not fetch the outputs of worker ${worker ?? "?"}: ${(err as Error).message}`;
      }
    }
    for (const f of files) {
      let seen: string | undefined;
      for (let tries = 0; tries < 3; tries++) {
        seen = await digestFile(resolve(this.root, f.$file)).catch(() => undefined);
        if (seen === f.digest) break;
        await sleep(200);
      }
      if (seen !== f.digest) {
        const what = seen === undefined ? "does not see it" : "sees other content";
        return `worker ${worker ?? "?"} wrote ${f.$file}, but the orchestrator ${what} under ${this.root}: share the project directory with the workers (same path, e.g. over NFS) or configure the remote cache`;
      }
    }
    return undefined;
  }

  /**
   * The watchdog: refreshes the heartbeat (workers drop jobs of orchestrators that are gone), notices a
   * Redis outage, and checks that jobs in flight still exist, so that a job lost with Redis' data is
   * enqueued again instead of being waited for forever.
   */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const reachable = await withDeadline(
        this.cmd.set(this.ch.heartbeat(this.client), "1", "PX", HEARTBEAT_TTL_MS),
        Math.max(500, Math.min(this.checkIntervalMs, 2000)),
      ).then(
        () => true,
        () => false,
      );
      if (!reachable) {
        this.downSince ??= now;
        const limit = this.options.redisDownTimeoutMs ?? 60_000;
        if (now - this.downSince >= limit && this.pending.size > 0) {
          const n = this.pending.size;
          const message = `lost Redis at ${redactUrl(this.options.url)}: unreachable for ${Math.round((now - this.downSince) / 1000)}s with ${n} step(s) in flight; finished steps are kept, run again to resume`;
          for (const p of [...this.pending.values()]) p.finish(failure({ kind: "infra", message }));
        }
        return;
      }
      const wasDown = this.downSince !== undefined;
      this.downSince = undefined;
      const due = [...this.pending.values()].filter(
        (p) => p.added && !p.done && (wasDown || now - p.since >= this.checkIntervalMs),
      );
      if (due.length === 0) return;
      const states = await withDeadline(
        Promise.all(due.map((p) => this.queue.getJobState(p.jobId))),
        Math.max(1000, this.checkIntervalMs),
      ).catch(() => undefined);
      if (!states) return;
      await Promise.all(due.map((p, k) => this.checkJob(p, p.jobId, states[k]!)));
    } catch {
      // The next tick tries again.
    } finally {
      this.ticking = false;
    }
  }

  private async checkJob(p: Pending, jobId: string, state: string): Promise<void> {
    if (p.done || p.jobId !== jobId) return;
    p.since = Date.now();
    if (state === "completed" || state === "failed") {
      // Its event was missed (the event stream was trimmed or the reader was reconnecting).
      const job = await this.queue.getJob(jobId);
      if (!job || p.done || p.jobId !== jobId) return;
      if (state === "completed") this.settle(jobId, job.returnvalue);
      else this.settleFailed(jobId, job.failedReason);
      return;
    }
    if (state !== "unknown") return;
    const step = p.data.task.stepId;
    if (p.cancelling) {
      p.finish(failure(abortError({ kind: p.cancelling.kind })));
      return;
    }
    if (p.requeues >= (this.options.maxRequeues ?? 3)) {
      p.finish(
        failure({
          kind: "infra",
          message: `its job vanished from Redis ${p.requeues + 1} times (Redis restarted without persistence, or the queue was emptied); not enqueuing it again`,
        }),
      );
      return;
    }
    p.requeues++;
    this.options.onWarning?.(
      `${step}: its job ${jobId} vanished from Redis (restarted without persistence, or the queue was emptied); enqueued it again`,
    );
    this.enqueue(p);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of [...this.pending.values()]) {
      p.finish(failure({ kind: "infra", message: "the remote executor was closed while the step ran" }));
    }
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

function failure(error: StepError): RemoteOutcome {
  return { ok: false, error };
}

function abortError(reason: unknown, when = "while running"): StepError {
  const r = reason as { kind?: string; afterMs?: number } | undefined;
  return stoppedError(
    r?.kind === "timeout" ? { kind: "timeout", afterMs: r.afterMs ?? 0 } : { kind: "cancelled" },
    when,
  );
}
