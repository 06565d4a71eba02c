import type { Step, StepId } from "../graph/ir.js";
import type { Topology } from "../graph/topology.js";
import type { StepCache } from "./cache-port.js";
import type { Listener } from "./events.js";
import type { Executor } from "./executor.js";
import type { ModuleGates } from "./module-gates.js";
import type { ScheduleMode } from "./scheduler.js";
import type { SlotSource } from "./slots.js";

export interface RunOptions {
  /**
   * Where steps run: the first executor that accepts a step's action runs it. The caller creates and
   * closes them (project/ supplies the standard set).
   */
  executors: readonly Executor[];
  /** Slots for concurrently running steps (`-j`). Default: cores + 2, so I/O waits do not idle a core. */
  concurrency?: number;
  mode?: ScheduleMode;
  /** Bytes of memory the steps that declare `memory:` share (`--memory`). Default: the machine's. */
  memory?: number;
  /** One step at a time in a deterministic order (see SchedulerOptions.serial); `concurrency` is then 1. */
  serial?: boolean;
  /** Ready steps start in an order drawn from this seed (see SchedulerOptions.shuffleSeed). */
  shuffleSeed?: number;
  /** Stop starting new steps after the first failure. */
  failFast?: boolean;
  /** Aborting it cancels the run: running steps are stopped, finished results are kept. */
  signal?: AbortSignal;
  /** Steps to produce (with their ancestors); default the graph's outputs, else every sink. */
  outputs?: StepId[];
  /** Project root: relative file paths and process working directories start here. Default cwd. */
  root?: string;
  onEvent?: Listener | Listener[];
  /** Between SIGTERM and SIGKILL when a process step is stopped. Default {@link DEFAULT_KILL_GRACE_MS}. */
  killGraceMs?: number;
  /** Environment for process steps; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Learned duration of a step, used for its priority when it declares no estimate. */
  estimate?: (step: Step) => number | undefined;
  cache?: StepCache;
  /** Emit step-output events as output happens (executors that can stream then do). */
  liveOutput?: boolean;
  /** The largest stdout kept as a process step's value. Default 8 MiB. */
  stdoutLimit?: number;
  /**
   * Cancel on SIGINT/SIGTERM for the duration of the run (the CLI sets it): the first signal stops
   * running steps gracefully, a second one kills them at once.
   */
  handleSignals?: boolean;
  /**
   * Where module limits (`graph.limits`) are counted. They protect something outside the process, so
   * by default every run in the process shares them: concurrent runs that declare the same limits for
   * a module share one concurrency count and one rate bucket (different limits are counted apart).
   * Pass a `new ModuleGates()` for a run whose limits should count on their own. Pools stay per run.
   */
  moduleGates?: ModuleGates;
  /**
   * The graph's topology from validateGraph, when the caller validated it once to run it many times (a
   * loaded flow): the graph is then not validated again. It must be this graph's: same steps in the same
   * order, same references.
   */
  topology?: Topology;
  /**
   * Job slots shared with other programs (a GNU make jobserver, see slots.ts): each step that takes CPU
   * slots beyond the first running one waits for a token from it. The caller creates and closes it.
   */
  slots?: SlotSource;
  /** Random source for retry jitter (tests pass a fixed one). */
  random?: () => number;
}

/** Between SIGTERM and SIGKILL when a run does not say. */
export const DEFAULT_KILL_GRACE_MS = 2000;
