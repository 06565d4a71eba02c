import { Option } from "./commander.js";

/**
 * Options shared by the commands, and how their values become the Project API's settings. Kept free of
 * engine imports: `--help` and argument errors must not pay for loading the engine or the language.
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

export function cacheOptions(): Option[] {
  const others = [cacheDirOption(), ...remoteCacheOptions()];
  return [
    new Option(
      "--no-cache",
      "neither read nor write the cache: every step runs, nothing is saved (to rerun steps and keep their fresh results: --force)",
    ).conflicts(others.map((o) => o.attributeName())),
    ...others,
  ];
}

/** `--force STEP`, repeatable: steps rerun whatever the cache holds, their results saved. */
export function forceOption(): Option {
  return new Option(
    "--force <step>",
    "rerun the steps this glob of step ids matches (compile*, objs[*]; repeatable) whatever the cache holds; their fresh results replace the cached ones",
  ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

export function cacheDirOption(): Option {
  return new Option(
    "--cache-dir <dir>",
    "where the cache lives (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)",
  );
}

/** The shared cache behind the local one. */
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

/** How to reach the workers' queue: the same options on `run --remote` and `worker`, which must agree. */
export function queueOptions(): Option[] {
  return [
    new Option("--queue <name>", "the BullMQ queue orchestrators and workers share (default tributary)"),
    new Option("--prefix <prefix>", "BullMQ key prefix in Redis (default bull)"),
    new Option(
      "--tls-ca <file>",
      "PEM file of the CA that signed the Redis server's certificate (with rediss://)",
    ),
  ];
}
