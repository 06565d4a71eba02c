import type { Attempt, Executor } from "../engine/executor.js";
import { thrownError, type Outcome } from "../engine/outcome.js";
import type { ModuleRef, StepAction, StepFn } from "../graph/ir.js";

type FunctionAction = Extract<StepAction, { kind: "function" }>;

/** Loads the function a step names by file and export (e.g. a graph built for remote workers). */
export type FunctionLoader = (ref: ModuleRef) => Promise<StepFn>;

/**
 * Calls TS/JS functions in this thread. A function that returns a plain value settles at once, with no
 * promise in between: the microseconds per step of the service fan-out depend on it. A promise that is
 * still pending when the attempt is stopped is abandoned (JavaScript cannot stop it): the attempt settles
 * as stopped at once, its signal tells the function to give up, and its late result is ignored.
 */
export class InlineExecutor implements Executor {
  readonly name = "in-process";

  constructor(private readonly load: FunctionLoader) {}

  accepts(action: StepAction): boolean {
    return action.kind === "function" && action.thread !== true;
  }

  run(attempt: Attempt): Outcome | PromiseLike<Outcome> {
    const action = attempt.step.action as FunctionAction;
    if (action.fn) return call(action.fn, attempt);
    if (!action.ref) {
      return {
        ok: false,
        error: { kind: "infra", message: `step ${attempt.stepId} has no function to call` },
      };
    }
    return this.load(action.ref).then(
      (fn) => call(fn, attempt),
      (err: Error): Outcome => ({ ok: false, error: { kind: "infra", message: err.message } }),
    );
  }

  async close(): Promise<void> {}
}

function call(fn: StepFn, attempt: Attempt): Outcome | PromiseLike<Outcome> {
  let r: unknown;
  try {
    r = fn.apply(attempt, attempt.args as unknown[]);
  } catch (err) {
    return { ok: false, error: thrownError(err) };
  }
  if (r === null || typeof (r as PromiseLike<unknown> | undefined)?.then !== "function") {
    return { ok: true, value: r };
  }
  attempt.abandonOnStop();
  return (r as PromiseLike<unknown>).then(succeeded, failed);
}

function succeeded(value: unknown): Outcome {
  return { ok: true, value };
}

function failed(err: unknown): Outcome {
  return { ok: false, error: thrownError(err) };
}
