import type { StepAction, StepId } from "../graph/ir.js";
import type { StepError } from "./result.js";

/**
 * One step sent to another machine: everything a worker needs, as plain data. Module files are named
 * relative to the project root, since each worker loads them from its own checkout.
 */
export interface RemoteTask {
  stepId: StepId;
  attempt: number;
  module: string;
  /** A process action, or a function action with `ref` (file relative to the root). */
  action: Exclude<StepAction, { kind: "map" }>;
  args: unknown[];
  /** Project-relative paths the step declares it writes. */
  outputs: string[];
  timeoutMs?: number;
  priority: number;
  /** Env var names the step declared; their values travel with the task. */
  env?: Record<string, string>;
  /** Digest of the module's code as the orchestrator sees it; a worker with other code refuses. */
  codeDigest?: string;
}

export type RemoteOutcome = { ok: true; value: unknown } | { ok: false; error: StepError; tail?: string };

/** Runs steps elsewhere. The orchestrator keeps the graph, the priorities and every limit. */
export interface RemoteExecutor {
  /** Whether this step can run remotely (e.g. in-process closures cannot). */
  accepts(action: StepAction): boolean;
  run(
    task: RemoteTask,
    signal: AbortSignal,
    onOutput?: (stream: "stdout" | "stderr", chunk: string) => void,
  ): Promise<RemoteOutcome>;
  close(): Promise<void>;
}
