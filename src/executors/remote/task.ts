import type { Outcome } from "../../engine/outcome.js";
import type { StepAction, StepId } from "../../graph/ir.js";

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
  /** The most stdout kept as a process step's value (the orchestrator's run option). */
  stdoutLimit?: number;
  /** The orchestrator's grace between SIGTERM and SIGKILL when the step is stopped. */
  killGraceMs?: number;
  priority: number;
  /** Env var names the step declared; their values travel with the task. */
  env?: Record<string, string>;
  /** Digest of the module's code as the orchestrator sees it; a worker with other code refuses. */
  codeDigest?: string;
}

export type RemoteOutcome = Outcome;

export type { OutputFile, TransferOutputs } from "../../engine/transfer-port.js";
