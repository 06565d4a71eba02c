import type { FileValue } from "../graph/ir.js";

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
