import { stoppedError } from "../../engine/outcome.js";
import type { StepError } from "../../engine/result.js";
import type { JobsOptions } from "./bullmq-ioredis.js";
import type { JobData, WireOutcome } from "./protocol.js";
import type { RemoteOutcome } from "./task.js";

/** A step the orchestrator has handed to BullMQ and waits for (under a new job id when enqueued again). */
export interface PendingJob {
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

export function failure(error: StepError): RemoteOutcome {
  return { ok: false, error };
}

/** The error of a step stopped by `reason` (an abort signal's: a timeout or a cancellation). */
export function abortError(reason: unknown, when = "while running"): StepError {
  const r = reason as { kind?: string; afterMs?: number } | undefined;
  return stoppedError(
    r?.kind === "timeout" ? { kind: "timeout", afterMs: r.afterMs ?? 0 } : { kind: "cancelled" },
    when,
  );
}
