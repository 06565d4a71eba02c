import type { Command } from "commander";
import type { CacheStats } from "../../project/index.js";
import { CliError, EXIT } from "../exit-codes.js";
import { cacheDirOption } from "../options.js";
import type * as ProjectAtModule from "../project-at.js";

interface DirFlags {
  cacheDir?: string;
  json?: boolean;
}

export function registerCache(program: Command): void {
  const cache = program.command("cache").description("inspect and trim the cache: stats, gc, clean");
  cache
    .command("stats")
    .description("size, entry count and the hit rate of the last run")
    .argument(
      "[file]",
      "the flow file (or project directory) whose cache it is (default: the nearest project from here up)",
    )
    .addOption(cacheDirOption())
    .option("--json", "print as JSON")
    .action(async (file: string | undefined, flags: DirFlags) => {
      const s = await (await projectAt(file, { dir: flags.cacheDir })).cacheStats();
      if (flags.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else process.stdout.write(await formatCacheStats(s));
      process.exitCode = EXIT.ok;
    });
  cache
    .command("gc")
    .description("evict least-recently-used entries until the cache fits")
    .argument(
      "[file]",
      "the flow file (or project directory) whose cache it is (default: the nearest project from here up)",
    )
    .requiredOption("--max-size <size>", "the size to fit in, e.g. 2GB, 500MB, 1GiB")
    .addOption(cacheDirOption())
    .action(async (file: string | undefined, flags: DirFlags & { maxSize: string }) => {
      const { parseSize, formatSize } = await import("../../project/index.js");
      let maxBytes: number;
      try {
        maxBytes = parseSize(flags.maxSize);
      } catch (err) {
        throw new CliError(`--max-size: ${(err as Error).message}`);
      }
      const r = await (await projectAt(file, { dir: flags.cacheDir })).gc(maxBytes);
      process.stdout.write(
        `removed ${r.removedEntries} entries and ${r.removedBlobs} blobs, freed ${formatSize(r.freedBytes)}; ${formatSize(r.remainingBytes)} left\n`,
      );
      process.exitCode = EXIT.ok;
    });
  cache
    .command("clean")
    .description("delete the whole cache")
    .argument(
      "[file]",
      "the flow file (or project directory) whose cache it is (default: the nearest project from here up)",
    )
    .addOption(cacheDirOption())
    .action(async (file: string | undefined, flags: DirFlags) => {
      const { formatSize } = await import("../../project/index.js");
      const project = await projectAt(file, { dir: flags.cacheDir });
      const r = await project.cleanCache();
      process.stdout.write(`removed ${await project.cacheDir()}, freed ${formatSize(r.freedBytes)}\n`);
      process.exitCode = EXIT.ok;
    });
}

/** project-at.ts, loaded when a cache command runs: `--help` does not need it. */
async function projectAt(...args: Parameters<typeof ProjectAtModule.projectAt>) {
  return (await import("../project-at.js")).projectAt(...args);
}

/** `cache stats` as text: sizes, counts and the last run's hit rate. */
async function formatCacheStats(s: CacheStats): Promise<string> {
  const { formatSize } = await import("../../project/index.js");
  const last = s.lastRun;
  const lines = [
    `cache ${s.dir}`,
    `  ${s.entries} entries, ${s.blobs} blobs, ${formatSize(s.totalBytes)} (results ${formatSize(s.acBytes)}, blobs ${formatSize(s.casBytes)}, state ${formatSize(s.stateBytes)})`,
  ];
  if (s.tempFiles > 0) lines.push(`  ${s.tempFiles} leftover temp files (removed by the next run or gc)`);
  if (last) {
    const rate = last.hitRate === null ? "n/a" : `${(last.hitRate * 100).toFixed(1)}%`;
    lines.push(
      `  last run ${last.at}: ${last.hits} hits, ${last.misses} misses, hit rate ${rate}; ${last.restoredFiles} files restored`,
    );
  } else lines.push("  no run recorded yet");
  return `${lines.join("\n")}\n`;
}
