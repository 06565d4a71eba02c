/** The `with` options of a step, for the checker, the docs and "did you mean". */
export const OPTION_NAMES = [
  "priority",
  "retry",
  "backoff",
  "timeout",
  "throttle",
  "concurrency",
  "pool",
  "cpus",
  "cache",
  "estimate",
  "partial",
  "env",
  "version",
] as const;

export type OptionName = (typeof OPTION_NAMES)[number];

/** What each option takes, shown in "wrong value" messages. */
export const OPTION_SHAPES: Record<OptionName, string> = {
  priority: "a number or low, normal, high",
  retry: "a whole number of at least 0",
  backoff: "a duration (200ms) or a record { initial: 200ms, max: 10s, factor: 2, jitter: 0.5 }",
  timeout: "a duration, like 2s",
  throttle: "a rate, like 20/s or 100/1min",
  concurrency: "a whole number of at least 1",
  pool: "the name of a pool declared with pool name = N",
  cpus: "a whole number of at least 0",
  cache: "true or false",
  estimate: "a duration, like 30s",
  partial: "true or false",
  env: 'a list of environment variable names, like ["HOME", "API_TOKEN"]',
  version: 'a string, like "2"',
};

export const PRIORITY_WORDS: Record<string, number> = { low: -10, normal: 0, high: 10 };

export const BACKOFF_FIELDS = ["initial", "max", "factor", "jitter"] as const;
