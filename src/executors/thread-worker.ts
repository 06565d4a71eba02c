/**
 * Runs inside a pool worker thread: loads the step's module (once per thread) and calls the export.
 * Each thread is single-task, so CPU-bound functions get a core each instead of blocking the engine.
 */
import { whyNotPlainData } from "../graph/eval.js";
import { loadFunction } from "./load-module.js";

export interface ThreadTask {
  file: string;
  exportName: string;
  /** The JavaScript the engine's thread imported for `file` (transpiled TypeScript), if any. */
  url?: string;
  args: unknown[];
  stepId: string;
  attempt: number;
  /** Project root; default the thread's working directory. */
  root?: string;
}

/** The function's value, or why it cannot be sent back to the engine's thread. */
export type ThreadResult = { value: unknown } | { unsendable: string };

export default async function runThreadTask(task: ThreadTask): Promise<ThreadResult> {
  const fn = await loadFunction(task.file, task.exportName, task.url);
  const controller = new AbortController();
  const value = await fn.apply(
    {
      stepId: task.stepId,
      attempt: task.attempt,
      root: task.root ?? process.cwd(),
      signal: controller.signal,
    },
    task.args,
  );
  // Checked here because piscina posts the result itself: a value that cannot be cloned makes its
  // postMessage throw inside the pool, which kills the thread and reaches the engine as a bare `{}`.
  try {
    structuredClone(value);
  } catch (err) {
    return {
      unsendable: whyNotPlainData(value, "value", 0, { undefinedFields: true }) ?? (err as Error).message,
    };
  }
  return { value };
}
