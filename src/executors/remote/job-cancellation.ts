import type { Queue, Redis } from "./bullmq-ioredis.js";
import { abortError, failure, type PendingJob } from "./pending-job.js";
import type { CancelMessage, JobData, WireOutcome } from "./protocol.js";

/**
 * Stops a step that is in Redis: a job still waiting is simply removed; one running (locked) is stopped
 * by its worker, asked on the cancel channel every second until the job settles, or `waitMs` passes and
 * the step fails without the worker's word.
 */
export class JobCancellation {
  constructor(
    private readonly queue: Queue<JobData, WireOutcome>,
    private readonly cmd: Redis,
    /** The cancel channel the workers listen on. */
    private readonly channel: string,
    /** After a cancel, how long to wait for the worker to confirm the step stopped. */
    private readonly waitMs: number,
  ) {}

  cancel(p: PendingJob, kind: "cancelled" | "timeout"): void {
    if (p.done) return;
    const first = !p.cancelling;
    p.cancelling ??= { kind, since: Date.now() };
    if (!p.added) return; // the job is cancelled again once it exists (JobsInFlight.enqueue)
    const jobId = p.jobId;
    this.queue.remove(jobId).then(
      (n) => {
        if (n === 1 && p.jobId === jobId) p.finish(failure(abortError({ kind }, "before it started")));
        else this.publish(p);
      },
      () => this.publish(p),
    );
    if (!first || p.cancelling.timer) return;
    const waitMs = this.waitMs;
    p.cancelling.timer = setInterval(() => {
      if (Date.now() - p.cancelling!.since < waitMs) return this.publish(p);
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

  private publish(p: PendingJob): void {
    if (p.done || !p.cancelling) return;
    const msg: CancelMessage = { j: p.jobId, kind: p.cancelling.kind };
    this.cmd.publish(this.channel, JSON.stringify(msg)).catch(() => {});
  }
}
