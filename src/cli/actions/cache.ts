import { dirname, join } from "node:path";
import { lastNoOpRun } from "../../cache/run-snapshot.js";
import {
  cacheStats,
  clean,
  explainLastRun,
  formatExplanation,
  formatSize,
  gc,
  parseSize,
} from "../../cache/index.js";
import { CliError, EXIT } from "../exit-codes.js";
import { resolveFlowFile } from "../flow-file.js";
import type { CacheFlags } from "../options.js";
import { projectCacheDir } from "../project-cache.js";

/** The project root is the flow file's directory (default ./pipeline.flow), as for `run`. */
function projectRoot(file: string | undefined): string {
  try {
    return dirname(resolveFlowFile(file));
  } catch {
    return process.cwd();
  }
}

export async function explainCommand(
  stepId: string,
  file: string | undefined,
  flags: CacheFlags & { json?: boolean },
): Promise<number> {
  const root = projectRoot(file);
  const noOp = lastNoOpRun(join(root, ".tributary"));
  if (noOp?.steps.includes(stepId)) {
    const text = `${stepId}: restored — nothing any step depends on changed since the run before (no-op run at ${noOp.at})`;
    process.stdout.write(
      flags.json
        ? `${JSON.stringify({ stepId, decision: "restored", cause: "no-op-run", at: noOp.at })}\n`
        : `${text}\n`,
    );
    return EXIT.ok;
  }
  const dir = await projectCacheDir(root, flags);
  const e = explainLastRun({ root, dir }, stepId);
  if (flags.json) process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
  else process.stdout.write(`${formatExplanation(e)}\n`);
  return e.decision === "unknown" ? EXIT.invalid : EXIT.ok;
}

export async function statsCommand(flags: CacheFlags & { json?: boolean }): Promise<number> {
  const dir = await projectCacheDir(process.cwd(), flags);
  const s = await cacheStats(dir);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return EXIT.ok;
  }
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
  process.stdout.write(`${lines.join("\n")}\n`);
  return EXIT.ok;
}

export async function gcCommand(flags: CacheFlags & { maxSize: string }): Promise<number> {
  let maxBytes: number;
  try {
    maxBytes = parseSize(flags.maxSize);
  } catch (err) {
    throw new CliError(`--max-size: ${(err as Error).message}`);
  }
  const dir = await projectCacheDir(process.cwd(), flags);
  const r = await gc(dir, { maxBytes });
  process.stdout.write(
    `removed ${r.removedEntries} entries and ${r.removedBlobs} blobs, freed ${formatSize(r.freedBytes)}; ${formatSize(r.remainingBytes)} left\n`,
  );
  return EXIT.ok;
}

export async function cleanCommand(flags: CacheFlags): Promise<number> {
  const dir = await projectCacheDir(process.cwd(), flags);
  const r = await clean(dir);
  process.stdout.write(`removed ${dir}, freed ${formatSize(r.freedBytes)}\n`);
  return EXIT.ok;
}
