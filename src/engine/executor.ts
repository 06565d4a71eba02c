import type { Step, StepAction, StepContext } from "../graph/ir.js";
import type { Outcome, StopReason } from "./outcome.js";

/**
 * One attempt of one step, as an executor sees it. It is also the `this` of an in-process function
 * (which sees only the {@link StepContext} part). Its signal is aborted with a {@link StopReason}.
 */
export interface Attempt extends StepContext {
  readonly step: Step;
  /** The step's evaluated inputs (files as FileValues with their digests). */
  readonly args: readonly unknown[];
  /** Project-relative paths the step declares it writes. */
  readonly outputs: readonly string[];
  /** The environment processes start with. */
  readonly env: NodeJS.ProcessEnv;
  /** The command line from the executor's `commandOf`, when it has one. */
  readonly command: readonly string[] | undefined;
  /** Set when someone reads output as it happens; executors that can stream call it. */
  readonly onOutput: ((stream: "stdout" | "stderr", chunk: string) => void) | undefined;
  /**
   * CPU slots the attempt holds: its `cpus`, at most the run's `-j` (0 for a step that takes none).
   * Its processes are told to use that many threads (executors/process/thread-env.ts).
   */
  readonly cpus: number;
  /** Between SIGTERM and SIGKILL when stopping a process. */
  readonly killGraceMs: number;
  /** The most stdout kept as a process step's value. */
  readonly stdoutLimit: number;
  /** Why the attempt was stopped, once it is. */
  readonly stopped: StopReason | undefined;
  /** Calls `fn` once when the attempt is stopped (at once if it is already): cheaper than a signal listener. */
  onStop(fn: (reason: StopReason) => void): void;
  /**
   * Says that the work cannot be stopped, only abandoned (a JavaScript promise): when the attempt is
   * stopped it settles at once as stopped, and whatever `run` resolves with later is ignored. Cheaper
   * than racing the work against onStop, which matters at 100k in-process steps.
   */
  abandonOnStop(): void;
  /** Content digest of a file (may use the cache's stat cache). */
  digest(absPath: string): Promise<string>;
  /** A problem that does not fail the step. */
  warn(message: string): void;
}

/**
 * The one port through which every step runs: in-process, in a worker thread, as a child process, on a
 * remote worker. The run loop picks the first executor that accepts a step's action and never knows
 * which one it drives. Like ninja's CommandRunner: small on purpose.
 */
/** What a run tells its executors before it starts (see Executor.prepare). */
export interface PrepareHint {
  /** The run's environment: the very object its attempts will carry as `env`. */
  readonly env: NodeJS.ProcessEnv;
  readonly killGraceMs: number;
  /** How many steps may run at once (-j); undefined: the engine's default, more than the cores. */
  readonly slots: number | undefined;
  /** How many of the run's steps this executor is for (Infinity when a map's items are among them). */
  readonly steps: number;
  /** Step output is read as it happens (RunOptions.liveOutput). */
  readonly liveOutput: boolean;
}

export interface Executor {
  /** Shown in warnings and errors: "in-process", "thread", "process", "remote". */
  readonly name: string;
  accepts(action: StepAction): boolean;
  /**
   * The argv the attempt runs, for events and failure reports (undefined for functions). Throws an
   * InputError when the inputs do not make a command line.
   */
  commandOf?(attempt: Attempt): string[] | undefined;
  /**
   * Runs the attempt to its one outcome, classified by engine/outcome.ts. Resolves soon after the
   * attempt is stopped (timeout, cancel), once what it started is gone. Never rejects: a rejection is
   * reported as an infrastructure failure.
   */
  run(attempt: Attempt): Outcome | PromiseLike<Outcome>;
  /**
   * Called ahead of a run that has steps for this executor, before the run opens its cache and plans:
   * an executor with a start-up cost (a server, a pool) may start it now, in parallel with that work.
   * A hint only: an executor never prepared works the same, and one may ignore it.
   */
  prepare?(hint: PrepareHint): void;
  /** Kills everything it still runs, with no grace (a second Ctrl-C). */
  killNow?(): void;
  /** Releases pools, servers and connections. Whoever created the executor closes it. */
  close(): Promise<void>;
}
