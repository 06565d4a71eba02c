import type { Step, StepId } from "../graph/ir.js";
import type { StepError, StepResult, StepStatus } from "./result.js";

const STATUS: readonly (StepStatus | undefined)[] = [undefined, "ok", "failed", "blocked", "cancelled"];
const CODE: Record<StepStatus, number> = { ok: 1, failed: 2, blocked: 3, cancelled: 4 };

/**
 * Every step's outcome, column by column. A run of 100k steps keeps numbers in arrays instead of 100k
 * result objects that would live through every garbage collection of the run; a {@link StepResult}
 * is built when someone asks for it (an event listener, or `RunResult.steps`).
 */
export class ResultTable {
  /** 0 while the step has no final state; see STATUS. */
  private readonly status: number[];
  private readonly cached: number[];
  readonly attempts: number[];
  readonly startMs: number[];
  /** Ready to start of the first attempt. */
  readonly queuedMs: number[];
  private readonly endMs: number[];
  readonly values: unknown[];
  private readonly errors: (StepError | undefined)[] = [];
  private readonly blockedBy: (StepId | undefined)[] = [];
  /** Per step, only for process steps: the command line and the last output. */
  readonly commands: (string[] | undefined)[] = [];
  readonly tails: (string | undefined)[] = [];

  constructor(n: number) {
    this.status = new Array<number>(n).fill(0);
    this.cached = new Array<number>(n).fill(0);
    this.attempts = new Array<number>(n).fill(0);
    this.startMs = new Array<number>(n).fill(0);
    this.queuedMs = new Array<number>(n).fill(0);
    this.endMs = new Array<number>(n).fill(0);
    this.values = new Array<unknown>(n);
  }

  /** Room for steps created at run time (map items). */
  add(count: number): void {
    for (let k = 0; k < count; k++) {
      this.status.push(0);
      this.cached.push(0);
      this.attempts.push(0);
      this.startMs.push(0);
      this.queuedMs.push(0);
      this.endMs.push(0);
      this.values.push(undefined);
    }
  }

  get size(): number {
    return this.status.length;
  }

  has(i: number): boolean {
    return this.status[i] !== 0;
  }

  statusOf(i: number): StepStatus | undefined {
    return STATUS[this.status[i]!];
  }

  isCached(i: number): boolean {
    return this.cached[i] === 1;
  }

  endOf(i: number): number {
    return this.endMs[i]!;
  }

  errorOf(i: number): StepError | undefined {
    return this.errors[i];
  }

  /** A step that ran (or was restored) reached `status` at `endMs`. */
  finish(
    i: number,
    status: StepStatus,
    endMs: number,
    value: unknown,
    error?: StepError,
    cached = false,
  ): void {
    this.status[i] = CODE[status];
    this.endMs[i] = endMs;
    if (status === "ok") this.values[i] = value;
    if (error) this.errors[i] = error;
    if (cached) {
      this.cached[i] = 1;
      this.attempts[i] = 0;
    }
  }

  /** A step that never ran: blocked by a failed ancestor, or cancelled. */
  skip(
    i: number,
    status: "blocked" | "cancelled",
    endMs: number,
    error: StepError,
    blockedBy?: StepId,
  ): void {
    this.status[i] = CODE[status];
    this.endMs[i] = endMs;
    this.errors[i] = error;
    if (blockedBy !== undefined) this.blockedBy[i] = blockedBy;
  }

  /** The result of step i as the public type; undefined while it has none. */
  result(i: number, step: Step): StepResult | undefined {
    const status = STATUS[this.status[i]!];
    if (!status) return undefined;
    const r: StepResult = { id: step.id, module: step.module, status, attempts: this.attempts[i]! };
    if (status === "ok") r.value = this.values[i];
    const error = this.errors[i];
    if (error) r.error = error;
    const blockedBy = this.blockedBy[i];
    if (blockedBy !== undefined) r.blockedBy = blockedBy;
    if (this.cached[i] === 1) r.cached = true;
    if (status === "ok" || status === "failed" || this.attempts[i]! > 0) {
      r.startMs = this.startMs[i];
      r.endMs = this.endMs[i];
      if (this.attempts[i]! > 0) r.queuedMs = this.queuedMs[i];
    }
    const command = this.commands[i];
    if (command) r.command = command;
    const tail = this.tails[i];
    if (tail && status !== "ok") r.outputTail = tail;
    return r;
  }
}
