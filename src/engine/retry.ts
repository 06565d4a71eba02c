import type { Backoff } from "../graph/ir.js";
import { DEFAULT_BACKOFF } from "../graph/options.js";
import type { StepErrorKind } from "./result.js";

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, and shortened by a
 * random fraction up to `jitter` so that many failing steps do not retry in lockstep.
 */
export function backoffDelay(backoff: Backoff | undefined, attempt: number, random: () => number): number {
  const b = backoff ?? DEFAULT_BACKOFF;
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, attempt - 1));
  return Math.round(base * (1 - b.jitter * random()));
}

/** Failures that another attempt cannot fix (a missing file, a missing command) are not retried. */
export function isRetryable(kind: StepErrorKind): boolean {
  return kind === "threw" || kind === "exit" || kind === "signal" || kind === "timeout" || kind === "infra";
}
