import type { Step, StepId } from "../graph/ir.js";
import type { Attempt } from "./executor.js";
import type { StopReason } from "./outcome.js";

/** What every attempt of a run shares: one object, so an attempt costs one small allocation. */
export interface AttemptSettings {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  readonly killGraceMs: number;
  readonly stdoutLimit: number;
  digest(absPath: string): Promise<string>;
  warn(message: string, id?: StepId): void;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * The engine's {@link Attempt}. Its AbortController is made only when someone asks for the signal:
 * 100k in-process steps must not pay for 100k controllers they never look at.
 */
export class AttemptContext implements Attempt {
  args: readonly unknown[] = NONE;
  outputs: readonly string[] = NONE;
  command: readonly string[] | undefined;
  onOutput: ((stream: "stdout" | "stderr", chunk: string) => void) | undefined;
  stopped: StopReason | undefined;
  private controller: AbortController | undefined;
  private hooks: ((reason: StopReason) => void)[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly step: Step,
    readonly attempt: number,
    private readonly settings: AttemptSettings,
  ) {}

  get stepId(): StepId {
    return this.step.id;
  }

  get root(): string {
    return this.settings.root;
  }

  get env(): NodeJS.ProcessEnv {
    return this.settings.env;
  }

  get killGraceMs(): number {
    return this.settings.killGraceMs;
  }

  get stdoutLimit(): number {
    return this.settings.stdoutLimit;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.stopped);
    }
    return this.controller.signal;
  }

  digest(absPath: string): Promise<string> {
    return this.settings.digest(absPath);
  }

  warn(message: string): void {
    this.settings.warn(message, this.step.id);
  }

  onStop(fn: (reason: StopReason) => void): void {
    if (this.stopped) fn(this.stopped);
    else (this.hooks ??= []).push(fn);
  }

  /** Stops the attempt after `ms` unless it ends first. */
  armTimeout(ms: number): void {
    this.timer = setTimeout(() => this.stop({ kind: "timeout", afterMs: ms }), ms);
  }

  stop(reason: StopReason): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.done();
    this.controller?.abort(reason);
    const hooks = this.hooks;
    this.hooks = undefined;
    if (hooks) for (const h of hooks) h(reason);
  }

  /** The attempt is over: its timeout no longer applies. */
  done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
