import type { Queue } from "./bullmq-ioredis.js";
import type { JobCancellation } from "./job-cancellation.js";
import { abortError, failure, type PendingJob } from "./pending-job.js";
import {
  PROTOCOL_VERSION,
  bullPriority,
  type JobData,
  type OutputMessage,
  type WireOutcome,
} from "./protocol.js";
import type { RemoteOutcome, RemoteTask } from "./task.js";

export interface JobsInFlightSettings {
  /** This orchestrator's id: job ids start with it, and workers check its heartbeat. */
  client: string;
  queueName: string;
  /** Where workers publish the output of this orchestrator's steps. */
  outputChannel: string;
  keepJobsSeconds: number;
  maxRequeues: number;
  /** Tells the workers again that this orchestrator is alive. */
  refreshHeartbeat(): void;
}

/**
 * The jobs this orchestrator waits for, by job id: each step submitted as a BullMQ job and settled by
 * its outcome (from the queue's events, or found by the watchdog), its output passed on as it arrives.
 */
export class JobsInFlight {
  private readonly pending = new Map<string, PendingJob>();
  private seq = 0;

  constructor(
    private readonly queue: Queue<JobData, WireOutcome>,
    private readonly settings: JobsInFlightSettings,
    private readonly cancellation: JobCancellation,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** The jobs in flight now (a copy: settling one removes it). */
  list(): PendingJob[] {
    return [...this.pending.values()];
  }

  /** Job ids in flight, by step id. */
  byStep(): Map<string, string> {
    const m = new Map<string, string>();
    for (const p of this.pending.values()) m.set(p.data.task.stepId, p.jobId);
    return m;
  }

  /** Enqueues a task and resolves with its outcome (never rejects: a failure is an outcome). */
  submit(
    task: RemoteTask,
    signal: AbortSignal,
    onOutput?: (stream: "stdout" | "stderr", chunk: string) => void,
  ): Promise<WireOutcome | RemoteOutcome> {
    return new Promise((resolveOutcome) => {
      const keep = { age: this.settings.keepJobsSeconds };
      const data: JobData = { v: PROTOCOL_VERSION, task, client: this.settings.client };
      if (onOutput) data.out = this.settings.outputChannel;
      const onAbort = () =>
        this.cancellation.cancel(
          p,
          (signal.reason as { kind?: string })?.kind === "timeout" ? "timeout" : "cancelled",
        );
      const p: PendingJob = {
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

  /** Whether a step whose job was lost or dropped may be enqueued again. */
  requeuesLeft(p: PendingJob): boolean {
    return p.requeues < this.settings.maxRequeues;
  }

  /** Adds the step's job to the queue, under a new job id. */
  enqueue(p: PendingJob): void {
    if (p.jobId) this.pending.delete(p.jobId);
    p.jobId = `${this.settings.client}-${++this.seq}`;
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
        if (p.cancelling) this.cancellation.cancel(p, p.cancelling.kind);
      },
      (err: Error) => {
        if (p.jobId === jobId) {
          p.finish(failure({ kind: "infra", message: `could not enqueue it in Redis: ${err.message}` }));
        }
      },
    );
  }

  /** A job completed: its return value is the step's outcome. */
  settle(jobId: string, returnvalue: unknown): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    const o = returnvalue as WireOutcome | null;
    if (!o || typeof o !== "object" || typeof o.ok !== "boolean") {
      p.finish(
        failure({
          kind: "infra",
          message: `job ${jobId} completed without a Tributary outcome (is a non-Tributary worker consuming queue "${this.settings.queueName}"?)`,
        }),
      );
      return;
    }
    if (p.cancelling && !o.ok && o.error.kind !== p.cancelling.kind) {
      // Stopped because we asked: whatever the worker saw (a killed process), the step was cancelled.
      p.finish({ ...o, error: abortError({ kind: p.cancelling.kind }) });
      return;
    }
    if (o.dropped && !p.cancelling && this.requeuesLeft(p)) {
      // A worker took us for gone (our heartbeat expired during a long Redis outage): we are not.
      p.requeues++;
      this.settings.refreshHeartbeat();
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

  /** A job failed in BullMQ itself (not a step's failure, which completes the job with its outcome). */
  settleFailed(jobId: string, failedReason: string | undefined): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    const reason = failedReason ?? "unknown reason";
    const message = /stalled more than allowable limit/.test(reason)
      ? `the workers that ran it died or stopped responding too many times (BullMQ: ${reason}); see the workers' --max-stalled`
      : `a worker failed it: ${reason}`;
    p.finish(failure({ kind: "infra", message }));
  }

  /** A message on the output channel: passed on to the step's listener. */
  onOutput(message: string): void {
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

  /** Fails every step in flight with `message`. */
  failAll(message: string): void {
    for (const p of this.list()) p.finish(failure({ kind: "infra", message }));
  }
}
