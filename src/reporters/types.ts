import type { EngineEvent } from "../engine/events.js";

/**
 * Turns the engine's event stream into text. Reporters never decide anything about the run; they only
 * describe it. `onEvent` must not throw (the bus swallows it anyway) and must be cheap: it runs on the
 * engine's hot path.
 */
export interface Reporter {
  onEvent(event: EngineEvent): void;
  /** Stops timers and restores the terminal. Idempotent; safe before or after run-end. */
  close(): void;
}

/** Where reporters write: a stream, optionally with a terminal's size and TTY flag. */
/** What reporters write to: a stream (process.stderr), or anything with its `write`; a terminal has a size. */
export interface OutputStream {
  write(text: string): unknown;
  columns?: number;
  rows?: number;
  isTTY?: boolean;
}
