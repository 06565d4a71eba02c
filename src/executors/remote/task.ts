import type { Outcome } from "../../engine/outcome.js";
import type { FileValue, StepAction, StepId } from "../../graph/ir.js";

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

export type RemoteOutcome = Outcome;

/**
 * A file a process step wrote, as the worker saw it: its project-relative path, content digest and, when
 * known, permission bits (0o777 mask; an executable stays executable on the other side).
 */
export type OutputFile = FileValue & { mode?: number };

/**
 * Moves a step's output files between machines that do not share the project directory (the hook for the
 * shared remote cache). On a worker it runs after a process step succeeded: upload each blob (read from
 * `<root>/<$file>`) to the CAS under its digest. On the orchestrator it runs before the step's value is
 * handed to the engine: download each blob and write it (atomically) to `<root>/<$file>`. Without it, both
 * sides must share the project directory, and the orchestrator checks that it sees the same content.
 */
export type TransferOutputs = (outputs: OutputFile[], context: { root: string }) => Promise<void>;
