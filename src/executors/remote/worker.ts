/**
 * The worker loop: pulls ready steps from BullMQ and runs them from this machine's checkout. Workers are
 * stateless; the orchestrator keeps the graph, the priorities and every limit.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { WaitingError, Worker, type Job } from "./bullmq-ioredis.js";
import { Redis } from "./bullmq-ioredis.js";
import type { Executor } from "../../engine/executor.js";
import { InlineExecutor } from "../inline.js";
import { ProcessExecutor } from "../process/index.js";
import { ThreadExecutor } from "../thread.js";
import { executeTask, InputVerifier, ModuleCache } from "./execute.js";
import { OrchestratorLiveness } from "./orchestrator-liveness.js";
import { outputPublisher } from "./output-publisher.js";
import { startReaper, type Reaper } from "../process/reaper.js";
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  PROTOCOL_VERSION,
  bullConnection,
  channels,
  plainConnection,
  redactUrl,
  subscriber,
  withDeadline,
  workerIdentity,
  type CancelMessage,
  type ConnectionSettings,
  type JobData,
  type TransferOutputs,
  type WireOutcome,
} from "./protocol.js";

export interface RemoteWorkerOptions extends ConnectionSettings {
  queue?: string;
  /** BullMQ key prefix (default "bull"); must match the orchestrator's. */
  prefix?: string;
  /** This machine's checkout of the project (default: the current directory). */
  root?: string;
  /** Steps run at once (default: cores). */
  concurrency?: number;
  /**
   * How long a job's lock lasts without renewal (default 5000 ms). A worker that dies (kill -9, power loss)
   * loses its jobs' locks after at most this long; a live worker renews them every half of it.
   */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired and put them back in the queue (default 2000 ms). */
  stalledIntervalMs?: number;
  /** How many times one job may be recovered from a dead worker before it fails (default 2). */
  maxStalledCount?: number;
  /** Between SIGTERM and SIGKILL when a step's process is stopped (default 2000 ms). */
  killGraceMs?: number;
  /** On close: how long running steps may finish before they are stopped and returned to the queue. */
  shutdownGraceMs?: number;
  /**
   * Run process steps (default true). A process step's argv comes from the queue, so whoever can write to
   * Redis can run commands on a worker that accepts them; false limits the worker to function steps, whose
   * code comes from its own checkout.
   */
  processSteps?: boolean;
  /** Check that input files have the orchestrator's content before running a step (default true). */
  verifyInputs?: boolean;
  /** Uploads a process step's output files (the remote-cache hook); see {@link TransferOutputs}. */
  transferOutputs?: TransferOutputs;
  /** Environment for process steps (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where the worker reports what it does (default: nowhere). */
  log?: (line: string) => void;
  /** Log every step, not just start-up, shutdown and problems. */
  verbose?: boolean;
}

export interface RemoteWorker {
  /** "host:pid". */
  readonly identity: string;
  /** Steps running now. */
  readonly running: number;
  /**
   * Stops taking steps, lets running ones finish for `graceMs` (default: the worker's shutdownGraceMs), then
   * stops the rest and returns their jobs to the queue for another worker, and closes every connection.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /** Stops and returns running steps at once (the second Ctrl-C). */
  abandon(): void;
}

interface Active {
  controller: AbortController;
  job: Job<JobData, WireOutcome>;
  token: string | undefined;
  /** Stopped to go back to the queue (shutdown), not cancelled by the orchestrator. */
  returning: boolean;
  /** Its lock was lost: another worker may run it; this copy's result would be refused. */
  lost: boolean;
}

/** How often the orchestrators of the running steps are checked to still wait for them. */
const CLIENT_CHECK_MS = 5_000;

/** Starts a worker and resolves once it is connected and taking steps. */
export async function startWorker(options: RemoteWorkerOptions): Promise<RemoteWorker> {
  const w = new TributaryWorker(options);
  await w.start();
  return w;
}

class TributaryWorker implements RemoteWorker {
  readonly identity = workerIdentity();
  private readonly root: string;
  private readonly queue: string;
  private readonly prefix: string;
  private readonly ch: ReturnType<typeof channels>;
  private readonly bull: Worker<JobData, WireOutcome>;
  private readonly pub: Redis;
  private readonly sub: { client: Redis; ready: Promise<void> };
  private readonly modules: ModuleCache;
  private readonly inputs: InputVerifier | undefined;
  private readonly executors: Executor[];
  private reaper: Reaper | undefined;
  private readonly actives = new Map<string, Active>();
  /** Cancel requests for jobs not (yet) running here, by job id → when they arrived. */
  private readonly cancelled = new Map<string, number>();
  private readonly orchestrators: OrchestratorLiveness;
  private readonly log: (line: string) => void;
  private clientTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private lastError = "";

  constructor(private readonly options: RemoteWorkerOptions) {
    this.root = resolve(options.root ?? process.cwd());
    this.queue = options.queue ?? DEFAULT_QUEUE;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ch = channels(this.prefix, this.queue);
    this.log = options.log ?? (() => {});
    this.modules = new ModuleCache(this.root);
    this.inputs = options.verifyInputs === false ? undefined : new InputVerifier(this.root);
    const concurrency = Math.max(1, options.concurrency ?? availableParallelism());
    // Functions arrive already loaded (localStep in execute.ts), so the in-process loader is never asked.
    this.executors = [
      new ThreadExecutor(concurrency),
      new ProcessExecutor(),
      new InlineExecutor(() => Promise.reject(new Error("functions are loaded by the worker"))),
    ];
    this.pub = new Redis(options.url, plainConnection(options));
    this.orchestrators = new OrchestratorLiveness(this.pub, this.ch.heartbeat);
    this.sub = subscriber(options, [this.ch.cancel], (channel, message) => {
      if (channel === this.ch.cancel) this.onCancel(message);
    });
    this.pub.on("error", (err) => this.noteError(err));
    this.sub.client.on("error", (err) => this.noteError(err));
    this.bull = new Worker<JobData, WireOutcome>(this.queue, (job, token) => this.process(job, token), {
      connection: bullConnection(options),
      prefix: this.prefix,
      concurrency,
      autorun: false,
      name: this.identity,
      lockDuration: options.lockDurationMs ?? 5000,
      stalledInterval: options.stalledIntervalMs ?? 2000,
      maxStalledCount: options.maxStalledCount ?? 2,
      // A quick re-poll when idle, so that a worker notices a Redis restart within a second or two.
      drainDelay: 1,
    });
    this.bull.on("error", (err) => this.noteError(err));
    this.bull.on("lockRenewalFailed", (ids) => {
      for (const id of ids) {
        const a = this.actives.get(id);
        if (!a || a.lost) continue;
        a.lost = true;
        this.log(`lost the lock of job ${id} (${a.job.data.task.stepId}); stopping this copy of it`);
        a.controller.abort({ kind: "cancelled" });
      }
    });
  }

  get running(): number {
    return this.actives.size;
  }

  async start(): Promise<void> {
    this.reaper = startReaper();
    await this.sub.ready;
    await this.bull.waitUntilReady();
    void this.bull.run().catch((err) => this.noteError(err));
    this.clientTimer = setInterval(() => void this.checkClients(), CLIENT_CHECK_MS);
    this.clientTimer.unref();
    this.log(
      `worker ${this.identity} ready: queue "${this.queue}" on ${redactUrl(this.options.url)}, ` +
        `${this.bull.concurrency} at a time, checkout ${this.root}`,
    );
  }

  private noteError(err: Error): void {
    // A Redis outage makes every client complain every retry; say it once per distinct message.
    const text = err?.message ?? String(err);
    if (text === this.lastError) return;
    this.lastError = text;
    this.log(`warning: ${text}`);
  }

  private onCancel(message: string): void {
    let m: CancelMessage;
    try {
      m = JSON.parse(message) as CancelMessage;
    } catch {
      return;
    }
    const a = this.actives.get(m.j);
    if (a) {
      if (this.options.verbose)
        this.log(`${m.kind === "timeout" ? "timeout" : "cancel"}: ${a.job.data.task.stepId}`);
      a.controller.abort({ kind: m.kind });
      return;
    }
    // Not running here (yet): remember it, in case this worker is about to start the job.
    const now = Date.now();
    this.cancelled.set(m.j, now);
    for (const [id, at] of this.cancelled) if (now - at > 60_000) this.cancelled.delete(id);
  }

  private async process(job: Job<JobData, WireOutcome>, token: string | undefined): Promise<WireOutcome> {
    const data = job.data;
    const id = job.id!;
    const worker = this.identity;
    if (data?.v !== PROTOCOL_VERSION) {
      return {
        ok: false,
        error: {
          kind: "infra",
          message: `worker ${worker} speaks protocol ${PROTOCOL_VERSION} but the job is ${data?.v ?? "not a Tributary job"}: run the same Tributary version on the orchestrator and the workers`,
        },
        worker,
      };
    }
    if (this.cancelled.has(id)) {
      this.cancelled.delete(id);
      return { ok: false, error: { kind: "cancelled", message: "cancelled before it started" }, worker };
    }
    if (await this.orchestrators.gone(data.client)) {
      return {
        ok: false,
        error: {
          kind: "infra",
          message: `worker ${worker} dropped it: its orchestrator stopped waiting for it`,
        },
        worker,
        dropped: true,
      };
    }
    if (data.task.action.kind === "process" && this.options.processSteps === false) {
      return {
        ok: false,
        error: {
          kind: "infra",
          message: `worker ${worker} does not run commands (it was started with --no-process-steps)`,
        },
        worker,
      };
    }
    const active: Active = { controller: new AbortController(), job, token, returning: false, lost: false };
    this.actives.set(id, active);
    const task = data.task;
    if (task.undefinedArgs) for (const k of task.undefinedArgs) task.args[k] = undefined;
    if (this.options.verbose) this.log(`start: ${task.stepId} (job ${id})`);
    const output = data.out ? outputPublisher(this.pub, id, data.out) : undefined;
    let outcome: WireOutcome;
    try {
      outcome = await executeTask(task, {
        root: this.root,
        identity: worker,
        signal: active.controller.signal,
        env: this.options.env ?? process.env,
        stepEnv: this.reaper?.env,
        killGraceMs: this.options.killGraceMs,
        onOutput: output?.write,
        modules: this.modules,
        executors: this.executors,
        inputs: this.inputs,
        transferOutputs: this.options.transferOutputs,
      });
    } finally {
      this.actives.delete(id);
    }
    if (output) outcome.messages = await output.end();
    if (active.lost) throw new Error(`worker ${worker} lost the job's lock`);
    if (active.returning) {
      await job.moveToWait(token);
      this.log(`returned ${task.stepId} (job ${id}) to the queue`);
      throw new WaitingError();
    }
    if (this.options.verbose || (!outcome.ok && outcome.error.kind === "infra")) {
      this.log(`${outcome.ok ? "done" : `failed (${outcome.error.message})`}: ${task.stepId}`);
    }
    return outcome;
  }

  /** Drops running steps whose orchestrator is gone (killed without a chance to cancel them). */
  private async checkClients(): Promise<void> {
    const running = [...this.actives.values()].map((a) => a.job.data.client);
    const gone = await this.orchestrators.check(running);
    if (!gone) return;
    for (const a of this.actives.values()) {
      if (gone.has(a.job.data.client)) {
        this.log(`orchestrator of ${a.job.data.task.stepId} is gone; stopping it`);
        a.controller.abort({ kind: "cancelled" });
      }
    }
  }

  abandon(): void {
    for (const a of this.actives.values()) {
      a.returning = true;
      a.controller.abort({ kind: "cancelled" });
    }
  }

  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.doClose(options.graceMs ?? this.options.shutdownGraceMs ?? 30_000);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    if (this.clientTimer) clearInterval(this.clientTimer);
    const n = this.actives.size;
    if (n > 0) this.log(`stopping: waiting up to ${graceMs} ms for ${n} running step(s)`);
    const timer = setTimeout(() => {
      if (this.actives.size > 0) this.log(`returning ${this.actives.size} unfinished step(s) to the queue`);
      this.abandon();
    }, graceMs);
    try {
      // A worker that cannot reach Redis cannot hand its jobs back; it must still stop.
      let stuckTimer: NodeJS.Timeout | undefined;
      const stuck = new Promise<"stuck">((res) => {
        stuckTimer = setTimeout(() => res("stuck"), graceMs + 10_000);
        stuckTimer.unref();
      });
      const how = await Promise.race([this.bull.close(), stuck]);
      clearTimeout(stuckTimer);
      if (how === "stuck") {
        this.log("could not close cleanly (is Redis reachable?); disconnecting");
        await withDeadline(this.bull.disconnect(), 1000).catch(() => {});
      }
    } finally {
      clearTimeout(timer);
      await Promise.allSettled([
        ...this.executors.map((e) => e.close()),
        withDeadline(this.sub.client.quit(), 1000).catch(() => this.sub.client.disconnect()),
        withDeadline(this.pub.quit(), 1000).catch(() => this.pub.disconnect()),
      ]);
      this.log(`worker ${this.identity} stopped`);
    }
  }
}
