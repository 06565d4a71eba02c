import type { StepId } from "../graph/ir.js";
import type { RunResult, StepError, StepResult } from "./result.js";

/** What reporters need to know about a step before it runs. */
export interface StepInfo {
  id: StepId;
  module: string;
  /** Expected duration, from history or a declared estimate; undefined when unknown. */
  estimateMs?: number;
  /** The steps it depends on (the graph's edges); set when someone listens. */
  deps?: StepId[];
}

/**
 * Everything the engine has to say. The engine emits these and never prints; reporters turn them into
 * text. Times are milliseconds since the run started (`t`).
 */
export type EngineEvent =
  | {
      type: "run-start";
      t: number;
      steps: StepInfo[];
      concurrency: number;
      /** Set by the project layer: the run record's id, the flow file (root-relative), the wall clock. */
      runId?: string;
      flow?: string | null;
      startedAt?: string;
      /** Whether step output is streamed (step-output events); else only failures' tails are known. */
      liveOutput?: boolean;
    }
  /** Steps created at run time (the items of a map). */
  | { type: "steps-added"; t: number; steps: StepInfo[]; parent: StepId }
  /**
   * What the cache decided for a step it was consulted for (once per attempt, before its step-start; a
   * hit has none). `reason`: why it missed, in the words of `tributary explain`.
   */
  | {
      type: "cache";
      t: number;
      id: StepId;
      decision: "hit" | "miss" | "uncacheable";
      source?: "local" | "remote";
      reason?: string;
    }
  | { type: "step-start"; t: number; id: StepId; attempt: number; command?: string[] }
  | { type: "step-output"; t: number; id: StepId; stream: "stdout" | "stderr"; chunk: string }
  /** Attempt `attempt` failed; attempt + 1 of `maxAttempts` starts after `delayMs`. */
  | {
      type: "step-retry";
      t: number;
      id: StepId;
      attempt: number;
      maxAttempts: number;
      delayMs: number;
      error: StepError;
    }
  /** A step reached its final state: ok (computed or cached), failed, blocked or cancelled. */
  | { type: "step-end"; t: number; result: StepResult }
  | { type: "warning"; t: number; message: string; id?: StepId }
  | { type: "run-end"; t: number; result: RunResult };

export type EventType = EngineEvent["type"];
export type EventOf<T extends EventType> = Extract<EngineEvent, { type: T }>;

export type Listener = (event: EngineEvent) => void;

/**
 * A minimal fan-out. Emitting is skipped entirely (no event object is built) when nobody listens,
 * which keeps the per-step overhead of in-process runs in the microseconds.
 */
export class EventBus {
  private readonly listeners: Listener[] = [];

  get active(): boolean {
    return this.listeners.length > 0;
  }

  on(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: EngineEvent): void {
    for (const l of this.listeners) {
      // A reporter that throws must not take the run down with it.
      try {
        l(event);
      } catch {
        /* ignored on purpose */
      }
    }
  }
}
