import { availableParallelism } from "node:os";
import type { Executor } from "../engine/executor.js";
import { DEFAULT_KILL_GRACE_MS, type RunOptions } from "../engine/run-options.js";
import type { Graph } from "../graph/ir.js";
import { InlineExecutor } from "../executors/inline.js";
import { loadFunction } from "../executors/load-module.js";
import { ProcessExecutor } from "../executors/process/index.js";
import { ThreadExecutor } from "../executors/thread.js";

export interface ExecutorSettings {
  /** Sizes the worker-thread pool (the scheduler bounds how many steps run at once anyway). */
  concurrency?: number;
  /** "direct" spawns every process from Node (see ProcessExecutor). */
  spawn?: "auto" | "direct";
  /** Marks every step process so that none outlives this one (see ProcessExecutor). */
  ownerToken?: string;
}

/**
 * The executors of a local run: in-process functions, worker threads, child processes. They accept
 * disjoint kinds of steps; the in-process one comes first because the run loop asks in order, and the
 * service fan-out is 100k function steps.
 */
export function localExecutors(settings: ExecutorSettings = {}): Executor[] {
  return [
    new InlineExecutor((ref) => loadFunction(ref.file, ref.exportName)),
    new ThreadExecutor(settings.concurrency ?? availableParallelism()),
    new ProcessExecutor({ spawn: settings.spawn, ownerToken: settings.ownerToken }),
  ];
}

/**
 * Tells each executor that has steps in `graph` (a map's items count) that a run with these options is
 * about to start (see Executor.prepare).
 */
export function prepareExecutors(
  executors: readonly Executor[],
  graph: Graph,
  run: Pick<RunOptions, "env" | "killGraceMs" | "serial" | "concurrency" | "liveOutput">,
): void {
  const base = {
    env: run.env ?? process.env,
    killGraceMs: run.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    slots: run.serial ? 1 : run.concurrency,
    liveOutput: run.liveOutput === true,
  };
  for (const e of executors) {
    if (!e.prepare) continue;
    // A map's items are known only when it runs: as many as there may be.
    let steps = 0;
    for (const s of graph.steps) {
      if (s.action.kind === "map") steps += e.accepts(s.action.item) ? Infinity : 0;
      else if (e.accepts(s.action)) steps++;
    }
    if (steps > 0) e.prepare({ ...base, steps });
  }
}

/** Closes executors, all of them even when one fails. */
export async function closeExecutors(executors: readonly Executor[]): Promise<void> {
  await Promise.allSettled(executors.map((e) => e.close()));
}
