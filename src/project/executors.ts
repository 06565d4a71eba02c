import { availableParallelism } from "node:os";
import type { Executor } from "../engine/executor.js";
import { InlineExecutor } from "../executors/inline.js";
import { loadFunction } from "../executors/load-module.js";
import { ProcessExecutor } from "../executors/process/index.js";
import { ThreadExecutor } from "../executors/thread.js";

export interface ExecutorSettings {
  /** Sizes the worker-thread pool (the scheduler bounds how many steps run at once anyway). */
  concurrency?: number;
  /** "direct" spawns every process from Node (see ProcessExecutor). */
  spawn?: "auto" | "direct";
}

/** The executors of a local run: worker threads, child processes, in-process functions. */
export function localExecutors(settings: ExecutorSettings = {}): Executor[] {
  return [
    new ThreadExecutor(settings.concurrency ?? availableParallelism()),
    new ProcessExecutor({ spawn: settings.spawn }),
    new InlineExecutor((ref) => loadFunction(ref.file, ref.exportName)),
  ];
}

/** Closes executors, all of them even when one fails. */
export async function closeExecutors(executors: readonly Executor[]): Promise<void> {
  await Promise.allSettled(executors.map((e) => e.close()));
}
