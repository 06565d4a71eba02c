import { Option } from "commander";

/**
 * Options shared by the commands. Kept free of engine imports: `--help` and argument errors must not
 * pay for loading the engine, the language or the cache. Their values are checked in option-values.ts.
 */

export function inputOption(): Option {
  return new Option("-i, --input <name=value...>", "a value for an `in` declaration (repeatable)");
}

export function jobsOption(what = "how many steps may run at once"): Option {
  return new Option("-j, --jobs <n>", `${what} (default: cores + 2)`);
}

export function scheduleOption(): Option {
  return new Option("--schedule <mode>", "how ready steps are ordered")
    .choices(["eager", "fifo", "layers"])
    .default("eager");
}

export interface CacheFlags {
  /** false with --no-cache. */
  cache?: boolean;
  cacheDir?: string;
  /** http(s):// URL or directory of a shared cache behind the local one (or $TRIBUTARY_REMOTE_CACHE). */
  remoteCache?: string;
  /** File holding the key that signs and checks action-cache entries on the remote (or $TRIBUTARY_CACHE_KEY). */
  cacheKeyFile?: string;
  /** Read the remote cache, never write it. */
  remoteCacheReadOnly?: boolean;
  /** An unreachable or failing remote cache fails the run instead of being a warning. */
  remoteCacheRequired?: boolean;
}

export function cacheOptions(): Option[] {
  return [
    new Option("--no-cache", "neither read nor write the cache: run every step"),
    new Option(
      "--cache-dir <dir>",
      "where the cache lives (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)",
    ),
    ...remoteCacheOptions(),
  ];
}

/** The shared cache behind the local one (run, plan). */
export function remoteCacheOptions(): Option[] {
  return [
    new Option(
      "--remote-cache <url|dir>",
      "a shared cache behind the local one: http(s)://[user:password@]host[:port][/prefix] (Bazel HTTP cache protocol: nginx WebDAV, bazel-remote) or a directory several machines mount (default $TRIBUTARY_REMOTE_CACHE)",
    ),
    new Option(
      "--cache-key-file <file>",
      "sign uploaded cache entries with this secret key and refuse unsigned or mis-signed ones (default: the key in $TRIBUTARY_CACHE_KEY)",
    ),
    new Option("--remote-cache-read-only", "use the remote cache, never upload to it"),
    new Option(
      "--remote-cache-required",
      "fail the run when the remote cache cannot be reached or an upload fails (default: a warning)",
    ),
  ];
}
