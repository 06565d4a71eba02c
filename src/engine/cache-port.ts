import type { Step, StepId } from "../graph/ir.js";

/** What the engine tells the cache about a step that is about to run. */
export interface CacheRequest {
  step: Step;
  /** The step's evaluated arguments (file inputs as FileValues with their digests). */
  args: unknown[];
  /** Project-relative paths the step declares it writes. */
  outputs: string[];
  root: string;
  /**
   * The value of a step this one references, as this step sees it: lets the cache key a step by the
   * values it consumes even when their producer could not be cached itself.
   */
  valueOfStep?: (id: StepId) => unknown;
}

export type CacheLookup =
  /** The value, with any output files already restored into the project. */
  | { hit: true; value: unknown; source?: "local" | "remote" }
  /** `key` to save the result under, or undefined when the step cannot be cached. */
  | { hit: false; key: string | undefined; reason?: string };

/**
 * The engine's view of a cache: look a step up before running it, save its result after. The store
 * behind it (local directory, shared directory, HTTP) is the cache's business.
 */
export interface StepCache {
  lookup(request: CacheRequest): Promise<CacheLookup>;
  save(key: string, request: CacheRequest, value: unknown): Promise<void>;
  /** Like lookup, but changes nothing on disk (no restore): for `plan` and `--dry-run`. */
  probe?(request: CacheRequest): Promise<CacheLookup>;
  /**
   * Why this run's lookup of a step decided as it did, in one line (a miss: what changed, as `explain`
   * says it). Asked only when someone listens to the run's events: it may read the cache's records.
   */
  reasonOf?(stepId: StepId): string | undefined;
  /** Content digest of an input file (may use a stat cache so unchanged files are not re-read). */
  digest?(absPath: string): Promise<string>;
}
