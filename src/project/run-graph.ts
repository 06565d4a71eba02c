import type { Executor } from "../engine/executor.js";
import type { RunResult } from "../engine/result.js";
import { runGraph as runWith, type RunOptions as EngineRunOptions } from "../engine/run.js";
import type { Graph } from "../graph/ir.js";
import { closeExecutors, localExecutors, prepareExecutors } from "./executors.js";

export interface RunOptions extends Omit<EngineRunOptions, "executors"> {
  /**
   * Executors tried before the local ones, first match wins: e.g. a remote executor
   * (`createRedisExecutor` from "tributary-flow/remote") or one of your own. You close them.
   */
  executors?: readonly Executor[];
  /** A remote executor tried first (the same as putting it first in `executors`). */
  remote?: Executor;
  /** "direct" spawns every process from Node instead of through the job server. */
  spawn?: "auto" | "direct";
}

/**
 * Runs a graph once with the local executors (threads, processes, in-process functions) plus any given,
 * and closes what it opened. Resolves with every step's outcome; rejects only for an invalid graph.
 */
export async function runGraph(graph: Graph, options: RunOptions = {}): Promise<RunResult> {
  const local = localExecutors({ concurrency: options.concurrency, spawn: options.spawn });
  const given = [...(options.remote ? [options.remote] : []), ...(options.executors ?? [])];
  try {
    prepareExecutors(local, graph, options);
    return await runWith(graph, { ...options, executors: [...given, ...local] });
  } finally {
    await closeExecutors(local);
  }
}
