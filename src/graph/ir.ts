/**
 * The graph IR: the one representation that both the flow language and the TS API produce, and the only
 * thing the planner, scheduler, executors and cache ever see. Nothing here knows about syntax.
 */

export type StepId = string;

/** Where something came from in a flow file, so that errors found later can still point at a line. */
export interface SourceSpan {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
  endLine?: number;
  endCol?: number;
}

/**
 * How a step's arguments are computed from literals, other steps' values and files. Evaluated by the
 * engine once every referenced step is done; the referenced steps are exactly the step's dependencies.
 */
export type ValueExpr =
  /** A literal value. `raw` marks template text of a shell command line: the only part left unquoted. */
  | { kind: "lit"; value: unknown; raw?: true }
  /**
   * Another step's value, optionally a field or index inside it (`user.id`). `at` is a hint from
   * producers that know it: the step's position in {@link Graph.steps}, checked before use, which saves
   * a lookup by id per reference on graphs of 100k steps.
   */
  | { kind: "ref"; step: StepId; path?: readonly (string | number)[]; at?: number }
  | { kind: "list"; items: ValueExpr[] }
  | { kind: "record"; fields: Record<string, ValueExpr> }
  /**
   * String interpolation. With `quote: "shell"` every part is quoted for /bin/sh except template text
   * (`lit` with `raw: true`), so no interpolated value, literal or computed, can inject shell syntax.
   */
  | { kind: "concat"; parts: ValueExpr[]; quote?: "shell" }
  /** An input file, hashed by content: evaluates to a {@link FileValue}. */
  | { kind: "file"; path: ValueExpr }
  /** Input files matching a pattern, sorted by path: evaluates to FileValue[]. */
  | { kind: "glob"; pattern: string }
  /** A file the step's command produces: evaluates to its path; the step's value names it as a FileValue. */
  | { kind: "output"; path: string }
  /**
   * A part of a path: of a {@link FileValue} or a string (`src/a.c`): `path` (as is), `name` (`a.c`),
   * `stem` (`a`), `ext` (`.c`), `dir` (`src`, `.` when none).
   */
  | { kind: "pathPart"; of: ValueExpr; part: PathPart }
  /** The non-empty lines of a file or a string; with `json`, each line parsed as JSON. */
  | { kind: "lines"; of: ValueExpr; json?: true }
  /**
   * Only in the inputs of a map (after its list): the item, or a field of it. Each item's step gets
   * the map's inputs with this replaced by the item (see item-template.ts).
   */
  | { kind: "item"; path?: readonly (string | number)[] }
  /** Only in the inputs of a map: an output path computed from the item, e.g. `out/${item.stem}.o`. */
  | { kind: "itemOutput"; path: ValueExpr }
  /**
   * Only in a flow loaded to be run many times (see graph/run-inputs.ts): the value of one of its `in`
   * declarations, given per run. Bound to a value before the graph reaches the engine.
   */
  | { kind: "input"; name: string };

export type PathPart = "path" | "name" | "stem" | "ext" | "dir";
export const PATH_PARTS: readonly PathPart[] = ["path", "name", "stem", "ext", "dir"];

/** A file passed between steps: its path (relative to the project root) and the digest of its content. */
export interface FileValue {
  $file: string;
  digest: string;
}

export function isFileValue(v: unknown): v is FileValue {
  return typeof v === "object" && v !== null && typeof (v as FileValue).$file === "string";
}

/** Where a TS module can be loaded from by another thread, process or machine. */
export interface ModuleRef {
  /** Absolute path (or file: URL) of the module file. */
  file: string;
  exportName: string;
}

/** Context handed to in-process functions as `this`. */
export interface StepContext {
  readonly stepId: StepId;
  /** The project root: relative FileValue paths are relative to it. */
  readonly root: string;
  readonly attempt: number;
  /** Aborted on timeout or cancellation; long-running functions should pass it on to fetch() and the like. */
  readonly signal: AbortSignal;
}

export type StepFn = (this: StepContext, ...args: any[]) => unknown;

/** What a step does. The step itself never knows which executor runs it. */
export type StepAction =
  /** A TS/JS function. In-process by default; `thread: true` sends it to the worker-thread pool (needs `ref`). */
  | { kind: "function"; fn?: StepFn; ref?: ModuleRef; thread?: boolean }
  /**
   * A child process. Its inputs, flattened, are the argv. With `shell: true` the single input is a
   * command line for /bin/sh (built with `concat` + `quote: "shell"` so interpolated values cannot inject).
   */
  | { kind: "process"; shell?: boolean; env?: Record<string, string>; cwd?: string }
  /**
   * Fan-out over a list known only at run time: input 0 is the list; one step per item runs `item`, its
   * inputs being the map's inputs 1..n with each `{ kind: "item" }` replaced by the item. The map step's
   * value is the list of item values, in list order. Items are named `map[key]` by their key (a file's
   * path, a string, or the field of the item that `key` names; see item-template.ts).
   */
  | { kind: "map"; item: StepAction; module: string; key?: readonly (string | number)[] };

export interface Backoff {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** 0..1: each delay is reduced by a random fraction up to this much, so retries do not stampede. */
  jitter: number;
}

export interface StepOptions {
  /** Higher runs first among ready steps. Default 0. */
  priority?: number;
  /** Extra attempts after the first failure. Default 0. */
  retries?: number;
  backoff?: Backoff;
  timeoutMs?: number;
  /** A named pool (see {@link Graph.pools}) this step takes one slot of. */
  pool?: string;
  /** Slots of the global concurrency budget this step occupies. Default 1. */
  cpus?: number;
  /** Bytes of memory the step holds while it runs, out of the run's `--memory` budget. Default 0. */
  memory?: number;
  /** false: never read or write the cache for this step (side effects). Default true. */
  cache?: boolean;
  /** Expected duration until measured durations are known. */
  estimateMs?: number;
  /** For consumers of a map: receive successes plus a record of each failure instead of being blocked. */
  partial?: boolean;
  /** Declared code version; replaces the code digest in the cache key. */
  version?: string;
  /** Names of environment variables that the step reads: passed through and part of the cache key. */
  env?: string[];
}

export interface Step {
  id: StepId;
  /** The module's name: shown to users and the key for per-module limits ("GetUser", "exec", "sh"). */
  module: string;
  action: StepAction;
  /** Positional arguments. */
  inputs: ValueExpr[];
  options: StepOptions;
  source?: SourceSpan;
}

/** Token bucket: at most `tokens` starts per `perMs` milliseconds. */
export interface Rate {
  tokens: number;
  perMs: number;
}

export interface ModuleLimits {
  concurrency?: number;
  rate?: Rate;
}

export interface Graph {
  steps: Step[];
  /** Steps whose values the run must produce; default: every sink. Only their ancestors run. */
  outputs?: StepId[];
  /** Named pools and their capacities. */
  pools?: Record<string, number>;
  /** Per-module limits, keyed by {@link Step.module}; they hold across every step of that module. */
  limits?: Record<string, ModuleLimits>;
}
