/**
 * Runs inside a pool worker thread: loads the step's module (once per thread) and calls the export.
 * Each thread is single-task, so CPU-bound functions get a core each instead of blocking the engine.
 */
import { callableOf, loadModuleFile } from "./load-module.js";

export interface ThreadTask {
  file: string;
  exportName: string;
  args: unknown[];
  stepId: string;
  attempt: number;
  /** Project root; default the thread's working directory. */
  root?: string;
}

const loaded = new Map<string, (...args: unknown[]) => unknown>();

export default async function runThreadTask(task: ThreadTask): Promise<unknown> {
  const key = `${task.file}#${task.exportName}`;
  let fn = loaded.get(key);
  if (!fn) {
    const mod = await loadModuleFile(task.file);
    fn = callableOf(mod[task.exportName]);
    if (!fn) throw new Error(`${task.file} has no function export "${task.exportName}"`);
    loaded.set(key, fn);
  }
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
