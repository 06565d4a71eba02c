/**
 * When a remote cache is given up on — the one place that decides it. A request that cannot reach the
 * server (connection refused or reset after its retries, or no answer within {@link REQUEST_TIMEOUT_MS})
 * opens the circuit: further calls fail at once with the same reason instead of each waiting out its own
 * timeout, so a stalled or dead cache costs a run one short timeout, not one per step.
 *
 * - For a run ({@link Circuit.forRun}): open for the rest of the run. Nothing more is asked of the
 *   remote; what could not be uploaded is recorded in the pending-uploads list for a later run.
 * - For a long-lived process (a worker, {@link Circuit.forService}): open for 10 s, doubled each time the
 *   remote is found down again (at most 5 minutes), then tried again.
 *
 * Answers that are errors (403, 500 after retries) do not open it: the server is there.
 */
/** A request idle this long (connecting, or waiting for bytes) is given up, and not retried. */
export const REQUEST_TIMEOUT_MS = 5_000;
/** The start-up check of a required remote cache. */
export const PING_TIMEOUT_MS = 5_000;
const SERVICE_REST_MS = 10_000;
const SERVICE_REST_MAX_MS = 300_000;

export class Circuit {
  private reason: Error | undefined;
  private until = 0;
  private trips = 0;
  private told = false;

  private constructor(
    /** undefined: once open, open for good (a run). */
    private readonly restMs: number | undefined,
  ) {}

  /** For one run: once the remote is found unreachable, it is not called again. */
  static forRun(): Circuit {
    return new Circuit(undefined);
  }

  /** For a long-lived process: the remote is left alone for a while, longer each time, then tried again. */
  static forService(restMs = SERVICE_REST_MS): Circuit {
    return new Circuit(restMs);
  }

  get isOpen(): boolean {
    if (this.reason === undefined) return false;
    return this.restMs === undefined || Date.now() < this.until;
  }

  /** Throws why the remote is not called, when the circuit is open. */
  check(): void {
    if (this.isOpen) throw this.reason!;
  }

  /** A request reached the server: a service's circuit closes again. */
  succeeded(): void {
    if (this.restMs === undefined) return;
    this.reason = undefined;
    this.trips = 0;
  }

  /** A request could not reach the server (its retries spent): the circuit opens. */
  failed(err: Error): void {
    if (this.restMs === undefined && this.reason !== undefined) return;
    this.trips++;
    this.reason = err;
    this.told = false;
    if (this.restMs !== undefined) {
      this.until = Date.now() + Math.min(this.restMs * 2 ** (this.trips - 1), SERVICE_REST_MAX_MS);
    }
  }

  /** True once per opening: the caller that gets it tells the user (one warning, not one per call). */
  firstReport(): boolean {
    if (this.told || this.reason === undefined) return false;
    this.told = true;
    return true;
  }
}
