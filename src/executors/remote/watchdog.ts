import type { Queue, Redis } from "./bullmq-ioredis.js";
import type { JobsInFlight } from "./jobs-in-flight.js";
import { abortError, failure, type PendingJob } from "./pending-job.js";
import { redactUrl, withDeadline, type JobData, type WireOutcome } from "./protocol.js";

const HEARTBEAT_TTL_MS = 30_000;

/** Tells workers that the orchestrator behind `key` still waits for its jobs (they drop those of the gone). */
export function heartbeat(cmd: Redis, key: string): Promise<unknown> {
  return cmd.set(key, "1", "PX", HEARTBEAT_TTL_MS);
}

export interface WatchdogSettings {
  /** How often the heartbeat is refreshed and the jobs in flight are checked. */
  intervalMs: number;
  /** Redis unreachable for this long fails the steps in flight. */
  redisDownTimeoutMs: number;
  /** Redis' URL, for messages. */
  url: string;
  onWarning?: (message: string) => void;
}

/**
 * The watchdog: refreshes the heartbeat (workers drop jobs of orchestrators that are gone), notices a
 * Redis outage, and checks that jobs in flight still exist, so that a job lost with Redis' data is
 * enqueued again instead of being waited for forever.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;
  private downSince: number | undefined;

  constructor(
    private readonly jobs: JobsInFlight,
    private readonly queue: Queue<JobData, WireOutcome>,
    private readonly beat: () => Promise<unknown>,
    private readonly settings: WatchdogSettings,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.settings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const interval = this.settings.intervalMs;
      const reachable = await withDeadline(this.beat(), Math.max(500, Math.min(interval, 2000))).then(
        () => true,
        () => false,
      );
      if (!reachable) {
        this.downSince ??= now;
        const limit = this.settings.redisDownTimeoutMs;
        if (now - this.downSince >= limit && this.jobs.size > 0) {
          const n = this.jobs.size;
          const message = `lost Redis at ${redactUrl(this.settings.url)}: unreachable for ${Math.round((now - this.downSince) / 1000)}s with ${n} step(s) in flight; finished steps are kept, run again to resume`;
          this.jobs.failAll(message);
        }
        return;
      }
      const wasDown = this.downSince !== undefined;
      this.downSince = undefined;
      const due = this.jobs
        .list()
        .filter((p) => p.added && !p.done && (wasDown || now - p.since >= interval));
      if (due.length === 0) return;
      const states = await withDeadline(
        Promise.all(due.map((p) => this.queue.getJobState(p.jobId))),
        Math.max(1000, interval),
      ).catch(() => undefined);
      if (!states) return;
      await Promise.all(due.map((p, k) => this.checkJob(p, p.jobId, states[k]!)));
    } catch {
      // The next tick tries again.
    } finally {
      this.ticking = false;
    }
  }

  private async checkJob(p: PendingJob, jobId: string, state: string): Promise<void> {
    if (p.done || p.jobId !== jobId) return;
    p.since = Date.now();
    if (state === "completed" || state === "failed") {
      // Its event was missed (the event stream was trimmed or the reader was reconnecting).
      const job = await this.queue.getJob(jobId);
      if (!job || p.done || p.jobId !== jobId) return;
      if (state === "completed") this.jobs.settle(jobId, job.returnvalue);
      else this.jobs.settleFailed(jobId, job.failedReason);
      return;
    }
    if (state !== "unknown") return;
    const step = p.data.task.stepId;
    if (p.cancelling) {
      p.finish(failure(abortError({ kind: p.cancelling.kind })));
      return;
    }
    if (!this.jobs.requeuesLeft(p)) {
      p.finish(
        failure({
          kind: "infra",
          message: `its job vanished from Redis ${p.requeues + 1} times (Redis restarted without persistence, or the queue was emptied); not enqueuing it again`,
        }),
      );
      return;
    }
    p.requeues++;
    this.settings.onWarning?.(
      `${step}: its job ${jobId} vanished from Redis (restarted without persistence, or the queue was emptied); enqueued it again`,
    );
    this.jobs.enqueue(p);
  }
}
