import { Option } from "commander";
import { CliError } from "./exit-codes.js";

/**
 * Options and argument parsing shared by the commands. Kept free of engine imports: `--help` and
 * argument errors must not pay for loading the engine, the language or the cache.
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
}

export function cacheOptions(): Option[] {
  return [
    new Option("--no-cache", "neither read nor write the cache: run every step"),
    new Option(
      "--cache-dir <dir>",
      "where the cache lives (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)",
    ),
  ];
}

export function parseJobs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(
      `-j needs a whole number of at least 1, got "${value}" (use -j 1 to run one step at a time)`,
    );
  }
  return n;
}

/** Parses `--input k=v` pairs. */
export function parseInputs(pairs: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new CliError(`--input needs name=value, got "${p}"`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
