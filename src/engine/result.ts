import type { StepId } from "../graph/ir.js";

export type StepStatus = "ok" | "failed" | "blocked" | "cancelled";

export type StepErrorKind =
  /** The function threw or its promise rejected (with anything, also a non-Error). */
  | "threw"
  /** The process exited with a non-zero code. */
  | "exit"
  /** The process was killed by a signal it did not ask for. */
  | "signal"
  | "timeout"
  /** The command could not be started (not found, not executable). */
  | "spawn"
  /** An input could not be computed: a missing file, a field that is not there. */
  | "input"
  /** The value could not be passed on (not serializable) or failed its declared schema. */
  | "value"
  /** The step was cancelled (Ctrl-C, AbortSignal, fail-fast). */
  | "cancelled"
  /** A failure outside the step's own code: a worker died, the cache could not be reached. */
  | "infra";

export interface StepError {
  kind: StepErrorKind;
  message: string;
  exitCode?: number;
  signal?: string;
  stack?: string;
  /** Another attempt would fail the same way (e.g. the shell could not find a command): not retried. */
  permanent?: boolean;
}

export interface StepResult {
  id: StepId;
  module: string;
  status: StepStatus;
  /** The step's value (status ok). */
  value?: unknown;
  error?: StepError;
  /** For blocked steps: the failed (or cancelled) ancestor that blocked it. */
  blockedBy?: StepId;
  /** Attempts made (0 when the step never started or was restored from the cache). */
  attempts: number;
  /** True when the value was restored from the cache instead of being computed. */
  cached?: boolean;
  /** Milliseconds since the run started, of the last attempt. */
  startMs?: number;
  endMs?: number;
  /**
   * How long the step was ready before its first attempt started: waiting for a slot, a pool or a
   * module limit (the last shared with other runs). Only for steps that ran.
   */
  queuedMs?: number;
  /** The command line, for process steps (as argv). */
  command?: string[];
  /** The last bytes the step wrote to stdout and stderr, interleaved; for failure reports. */
  outputTail?: string;
}

export interface RunSummary {
  total: number;
  ok: number;
  cached: number;
  failed: number;
  blocked: number;
  cancelled: number;
  wallMs: number;
  /** Sum of the durations of the steps that ran. */
  workMs: number;
  /** Longest chain of dependent step durations actually measured, and its steps. */
  criticalPathMs: number;
  criticalPath: StepId[];
  /** What the run did with its remote cache; only when one is configured. */
  remoteCache?: RemoteCacheSummary;
}

/** Action-cache entries (one per step result) a run moved to or from its remote cache. */
export interface RemoteCacheSummary {
  /** Restored from the remote (verified). */
  fetched: number;
  /** Uploaded to it (this run's results, and earlier ones it had not had). */
  uploaded: number;
  /** Found on the remote but refused: unsigned, mis-signed, signed with another key, damaged. */
  refused: number;
  /** Left for a later run to upload: the remote failed or could not be reached. */
  pending: number;
}

export interface RunResult {
  ok: boolean;
  /** The run was cancelled (AbortSignal, SIGINT/SIGTERM) before it could finish everything. */
  cancelled: boolean;
  /** Every step of the run, in graph order. */
  steps: StepResult[];
  /** Values of the requested outputs, by step id. */
  outputs: Record<StepId, unknown>;
  summary: RunSummary;
}
