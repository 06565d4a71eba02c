import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";
import type { Attempt, Executor } from "../engine/executor.js";
import { stoppedError, thrownError, type Outcome } from "../engine/outcome.js";
import type { StepAction } from "../graph/ir.js";
import { importedTranspiledUrl } from "./load-module.js";
import type { ThreadResult, ThreadTask } from "./thread-worker.js";

type FunctionAction = Extract<StepAction, { kind: "function" }>;

/**
 * Runs CPU-bound functions (`thread: true`) in a pool of worker threads (piscina), so they get a core
 * each instead of blocking the engine. The pool starts on first use and is sized to the run's
 * concurrency, since the scheduler already bounds how many steps run at once.
 */
export class ThreadExecutor implements Executor {
  readonly name = "thread";
  private pool: Promise<Piscina> | undefined;

  constructor(private readonly maxThreads: number = availableParallelism()) {}

  accepts(action: StepAction): boolean {
    return action.kind === "function" && action.thread === true;
  }

  async run(attempt: Attempt): Promise<Outcome> {
    const ref = (attempt.step.action as FunctionAction).ref;
    if (!ref) {
      return {
        ok: false,
        error: {
          kind: "infra",
          message: `step ${attempt.stepId} is marked for a thread but names no module file`,
        },
      };
    }
    const abs = ref.file.startsWith("file:")
      ? fileURLToPath(ref.file)
      : resolve(attempt.root ?? "", ref.file);
    const task: ThreadTask = {
      file: ref.file,
      exportName: ref.exportName,
      url: await importedTranspiledUrl(abs),
      args: attempt.args as unknown[],
      stepId: attempt.stepId,
      attempt: attempt.attempt,
      root: attempt.root,
    };
    try {
      this.pool ??= this.create();
      const result = (await (await this.pool).run(task, { signal: attempt.signal })) as ThreadResult;
      if ("unsendable" in result) {
        return {
          ok: false,
          error: {
            kind: "value",
            message: `its value cannot travel back from a worker thread: ${result.unsendable}; return plain data (JSON)`,
          },
        };
      }
      return { ok: true, value: result.value };
    } catch (err) {
      if (attempt.stopped) return { ok: false, error: stoppedError(attempt.stopped) };
      if ((err as Error)?.name === "DataCloneError") {
        return {
          ok: false,
          error: { kind: "value", message: `cannot send to a worker thread: ${(err as Error).message}` },
        };
      }
      return { ok: false, error: thrownError(err) };
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await (await pool).destroy();
  }

  private async create(): Promise<Piscina> {
    const { Piscina } = await import("piscina");
    const here = import.meta.url;
    // Under a TS runner (tests) the worker is the .ts source and needs tsx's loader too.
    const fromSource = here.endsWith(".ts");
    const filename = fileURLToPath(new URL(`./thread-worker.${fromSource ? "ts" : "js"}`, here));
    return new Piscina({
      filename,
      minThreads: 0,
      maxThreads: Math.max(1, this.maxThreads),
      idleTimeout: 1000,
      execArgv: fromSource ? ["--import", "tsx"] : [],
    });
  }
}
