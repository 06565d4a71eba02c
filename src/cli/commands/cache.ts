import type { Command } from "commander";

interface DirFlags {
  cacheDir?: string;
  json?: boolean;
}

export function registerCache(program: Command): void {
  const cache = program.command("cache").description("inspect and trim the cache: stats, gc, clean");
  const dirOption = [
    "--cache-dir <dir>",
    "the cache directory (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)",
  ] as const;
  cache
    .command("stats")
    .description("size, entry count and the hit rate of the last run")
    .option(...dirOption)
    .option("--json", "print as JSON")
    .action(async (flags: DirFlags) => {
      const { statsCommand } = await import("../actions/cache.js");
      process.exitCode = await statsCommand(flags);
    });
  cache
    .command("gc")
    .description("evict least-recently-used entries until the cache fits")
    .requiredOption("--max-size <size>", "the size to fit in, e.g. 2GB, 500MB, 1GiB")
    .option(...dirOption)
    .action(async (flags: DirFlags & { maxSize: string }) => {
      const { gcCommand } = await import("../actions/cache.js");
      process.exitCode = await gcCommand(flags);
    });
  cache
    .command("clean")
    .description("delete the whole cache")
    .option(...dirOption)
    .action(async (flags: DirFlags) => {
      const { cleanCommand } = await import("../actions/cache.js");
      process.exitCode = await cleanCommand(flags);
    });
}
