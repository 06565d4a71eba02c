/**
 * Runs inside a pool worker thread: loads the step's module (once per thread) and calls the export.
 * Each thread is single-task, so CPU-bound functions get a core each instead of blocking the engine.
 */
import { loadFunction } from "./load-module.js";

export interface ThreadTask {
  file: string;
  exportName: string;
  args: unknown[];
  stepId: string;
  attempt: number;
  /** Project root; default the thread's working directory. */
  root?: string;
}

export default async function runThreadTask(task: ThreadTask): Promise<unknown> {
  const fn = await loadFunction(task.file, task.exportName);
  const controller = new AbortController();
  return fn.apply(
    {
      stepId: task.stepId,
      attempt: task.attempt,
      root: task.root ?? process.cwd(),
      signal: controller.signal,
    },
    task.args,
  );
}
