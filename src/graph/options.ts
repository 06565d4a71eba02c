/**
 * The `with` options of a step, one entry each: how it is written, which kinds of step take it, where
 * it lands in the graph IR and whether it counts in the cache key. The flow checker validates and lowers
 * `with` clauses from this table, the cache chooses the options of a key from it, the TS API maps its
 * settings with it, and the reference in docs/language.md is generated from it (`npm run docs:options`).
 */
import type { Backoff, ModuleLimits, StepOptions } from "./ir.js";

/** The kinds of step an option can be given to. */
export type StepKind = "function" | "thread" | "exec" | "sh" | "map";

/** Each kind as users know it, in the order messages list them. */
export const STEP_KINDS: Readonly<Record<StepKind, string>> = {
  function: "module functions",
  thread: "thread modules (cpu: true)",
  exec: "exec()",
  sh: "sh()",
  map: "map()",
};

const EVERY_KIND = Object.keys(STEP_KINDS) as readonly StepKind[];

/** "module functions, exec() and sh()": kinds of step, as messages and the docs list them. */
export function kindsText(kinds: readonly StepKind[]): string {
  const names = kinds.map((k) => STEP_KINDS[k]);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? "");
}

/** What an option's value is; the checker has one reader per kind. */
export type OptionValue =
  /** A number, or one of {@link PRIORITY_WORDS}. */
  | { kind: "priority" }
  /** A whole number of at least `min`. */
  | { kind: "count"; min: number }
  /** A duration longer than 0. */
  | { kind: "duration" }
  /** A rate of at least 1 call per period. */
  | { kind: "rate" }
  /** The name of a declared pool. */
  | { kind: "pool" }
  | { kind: "bool" }
  /** A list of environment variable names. */
  | { kind: "env-names" }
  /** A non-empty string. */
  | { kind: "text" }
  /** An amount of bytes: a size as text ("2GB", "512MiB") or a whole number of bytes. */
  | { kind: "size" }
  /** A duration, or a record of {@link BACKOFF_FIELDS}. */
  | { kind: "backoff" };

/** Where a valid value lands: a field of the step's options, or of its module's limits (Graph.limits). */
export type OptionTarget = { step: keyof StepOptions } | { moduleLimit: keyof ModuleLimits };

/**
 * How an option counts in a step's cache key: not at all (it changes when or how a step runs, never
 * its result), among the key's options, as the key's code version, or as the values of the variables.
 */
export type CacheKeyPart = false | "options" | "code" | "env";

export interface WithOption {
  name: string;
  /** What the value looks like, for "must be ..." messages and the docs. */
  shape: string;
  value: OptionValue;
  accepts: readonly StepKind[];
  cacheKey: CacheKeyPart;
  target: OptionTarget;
  /** Its name in the TS API: a key of StepSettings (of ModuleSettings for module limits). */
  setting: string;
  /** One line for the docs (Markdown). */
  doc: string;
}

/** Prototype-less: the user's word is looked up here (`priority: constructor` is no priority). */
export const PRIORITY_WORDS: Readonly<Record<string, number>> = Object.assign(Object.create(null), {
  low: -10,
  normal: 0,
  high: 10,
});

export const BACKOFF_FIELDS = ["initial", "max", "factor", "jitter"] as const;

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, factor: 2, maxMs: 30_000, jitter: 0.5 };

const priorityWords = Object.entries(PRIORITY_WORDS)
  .map(([word, n]) => `\`${word}\` (${n})`)
  .join(", ");

export const WITH_OPTIONS: readonly WithOption[] = [
  {
    name: "priority",
    shape: `a number or ${Object.keys(PRIORITY_WORDS).join(", ")}`,
    value: { kind: "priority" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "priority" },
    setting: "priority",
    doc: `among ready steps, higher starts first; ${priorityWords}`,
  },
  {
    name: "retry",
    shape: "a whole number of at least 0",
    value: { kind: "count", min: 0 },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "retries" },
    setting: "retries",
    doc: "extra attempts after a failure (errors that cannot change, like a missing file, are not retried)",
  },
  {
    name: "backoff",
    shape: "a duration (200ms) or a record { initial: 200ms, max: 10s, factor: 2, jitter: 0.5 }",
    value: { kind: "backoff" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "backoff" },
    setting: "backoff",
    doc:
      "delay before each retry: `initial × factor^(n-1)`, capped at `max`, shortened by a random fraction " +
      `up to \`jitter\`. Defaults: ${DEFAULT_BACKOFF.initialMs}ms, ${DEFAULT_BACKOFF.maxMs / 1000}s, ` +
      `${DEFAULT_BACKOFF.factor}, ${DEFAULT_BACKOFF.jitter}. Needs \`retry\`.`,
  },
  {
    name: "timeout",
    shape: "a duration, like 2s",
    value: { kind: "duration" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "timeoutMs" },
    setting: "timeout",
    doc: "an attempt that takes longer is stopped (processes are killed) and fails with a timeout",
  },
  {
    name: "throttle",
    shape: "a rate, like 20/s or 100/1min",
    value: { kind: "rate" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { moduleLimit: "rate" },
    setting: "throttle",
    doc: "at most that many starts per period for the step's **module**, across the whole flow",
  },
  {
    name: "concurrency",
    shape: "a whole number of at least 1",
    value: { kind: "count", min: 1 },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { moduleLimit: "concurrency" },
    setting: "concurrency",
    doc: "at most that many running steps of the step's **module**; on a `map`, its items",
  },
  {
    name: "pool",
    shape: "the name of a pool declared with pool name = N",
    value: { kind: "pool" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "pool" },
    setting: "pool",
    doc: "the step takes one slot of the pool",
  },
  {
    name: "cpus",
    shape: "a whole number of at least 0",
    value: { kind: "count", min: 0 },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "cpus" },
    setting: "cpus",
    doc: "slots of the global `-j` budget the step occupies (default 1); its processes are told to use that many threads (see below)",
  },
  {
    name: "memory",
    shape: 'a size, like "2GB" or "512MiB"',
    value: { kind: "size" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "memory" },
    setting: "memory",
    doc: "memory the step holds while it runs: steps start only while the sum fits in `--memory` (default: the machine's)",
  },
  {
    name: "cache",
    shape: "true or false",
    value: { kind: "bool" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "cache" },
    setting: "cache",
    doc: "`false`: never read or write the cache for this step (side effects)",
  },
  {
    name: "estimate",
    shape: "a duration, like 30s",
    value: { kind: "duration" },
    accepts: EVERY_KIND,
    cacheKey: false,
    target: { step: "estimateMs" },
    setting: "estimate",
    doc: "expected duration, for scheduling, until measured durations are known",
  },
  {
    name: "partial",
    shape: "true or false",
    value: { kind: "bool" },
    accepts: EVERY_KIND,
    cacheKey: "options",
    target: { step: "partial" },
    setting: "partial",
    doc: "a user of a `map` or `for` receives `{ ok, failed }` instead of being blocked by a failed item",
  },
  {
    name: "env",
    shape: 'a list of environment variable names, like ["HOME", "API_TOKEN"]',
    value: { kind: "env-names" },
    accepts: EVERY_KIND,
    cacheKey: "env",
    target: { step: "env" },
    setting: "env",
    doc: "environment variables the step reads: passed through and part of the cache key",
  },
  {
    name: "version",
    shape: 'a string, like "2"',
    value: { kind: "text" },
    accepts: EVERY_KIND,
    cacheKey: "code",
    target: { step: "version" },
    setting: "version",
    doc: "the code version, replacing the code digest in the cache key",
  },
];

export const OPTION_NAMES: readonly string[] = WITH_OPTIONS.map((o) => o.name);

const BY_NAME = new Map(WITH_OPTIONS.map((o) => [o.name, o]));

/** The option called `name` in a `with` clause, if there is one. */
export function withOption(name: string): WithOption | undefined {
  return BY_NAME.get(name);
}

/**
 * StepOptions fields a cache key leaves out of its `options` part: those that never change a result,
 * and `version` and `env`, which enter the key as its `code` and `env` parts. A StepOptions field no
 * option lands in is not listed, so it counts.
 */
export const NOT_IN_KEY_OPTIONS: ReadonlySet<string> = new Set(
  WITH_OPTIONS.flatMap((o) => ("step" in o.target && o.cacheKey !== "options" ? [o.target.step] : [])),
);
