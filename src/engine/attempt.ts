import type { Step, StepId } from "../graph/ir.js";
import type { Attempt } from "./executor.js";
import { stoppedError, type Outcome, type StopReason } from "./outcome.js";

/** What every attempt of a run shares: one object, so an attempt costs one small allocation. */
export interface AttemptSettings {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  readonly killGraceMs: number;
  readonly stdoutLimit: number;
  digest(absPath: string): Promise<string>;
  warn(message: string, id?: StepId): void;
  /**
   * An attempt whose work cannot be stopped (see {@link Attempt.abandonOnStop}) was stopped: settle it
   * now with `outcome`; the outcome its executor reports later is to be ignored.
   */
  abandoned(attempt: AttemptContext, outcome: Outcome): void;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * The engine's {@link Attempt}. Its AbortController is made only when someone asks for the signal:
 * 100k in-process steps must not pay for 100k controllers they never look at.
 */
export class AttemptContext implements Attempt {
  // Declared, then set in the constructor: V8 builds this object (one per attempt, 100k in a fan-out)
  // faster by assignment than by class-field definition, and every instance gets the same shape.
  declare args: readonly unknown[];
  declare outputs: readonly string[];
  declare command: readonly string[] | undefined;
  declare onOutput: ((stream: "stdout" | "stderr", chunk: string) => void) | undefined;
  declare stopped: StopReason | undefined;
  declare readonly cpus: number;
  declare private controller: AbortController | undefined;
  /** One hook is the common case (the executor's): no array for it. */
  declare private hooks: ((reason: StopReason) => void) | ((reason: StopReason) => void)[] | undefined;
  declare private timer: NodeJS.Timeout | undefined;
  declare private abandons: boolean;
  declare readonly step: Step;
  declare readonly attempt: number;
  declare private readonly settings: AttemptSettings;

  /**
   * `slot`: where the run keeps this step (the run's business; a worker passes 0). `cpus`: the slots
   * the run's scheduler granted; a worker keeps the step's own.
   */
  constructor(
    step: Step,
    attempt: number,
    settings: AttemptSettings,
    readonly slot = 0,
    cpus = step.options.cpus ?? 1,
  ) {
    this.step = step;
    this.attempt = attempt;
    this.settings = settings;
    this.args = NONE;
    this.outputs = NONE;
    this.command = undefined;
    this.onOutput = undefined;
    this.stopped = undefined;
    this.cpus = cpus;
    this.controller = undefined;
    this.hooks = undefined;
    this.timer = undefined;
    this.abandons = false;
  }

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
    const hooks = this.hooks;
    if (this.stopped) fn(this.stopped);
    else if (!hooks) this.hooks = fn;
    else if (typeof hooks === "function") this.hooks = [hooks, fn];
    else hooks.push(fn);
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
    if (typeof hooks === "function") hooks(reason);
    else if (hooks) for (const h of hooks) h(reason);
    if (this.abandons) this.settings.abandoned(this, { ok: false, error: stoppedError(reason) });
  }

  abandonOnStop(): void {
    if (this.abandons) return;
    this.abandons = true;
    if (this.stopped) this.settings.abandoned(this, { ok: false, error: stoppedError(this.stopped) });
  }

  /** The attempt is over: its timeout no longer applies. */
  done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
