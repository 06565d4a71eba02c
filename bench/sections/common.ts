import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ToolRunner } from "../peers.js";

/** Settings every section receives from the command line. */
export interface SectionOptions {
  /** --reps N: overrides every section's repetition count. */
  reps?: number;
  /** --quick: fewer reps and smaller workloads, for a smoke run. */
  quick: boolean;
  /** Tools that build the shared workloads (peers, plus Tributary's CLI once it exists). */
  tools: ToolRunner[];
}

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Repetitions: --reps if given, else the section's default (or its quick default). */
export function repsOf(o: SectionOptions, normal: number, quick = 1): number {
  return o.reps ?? (o.quick ? quick : normal);
}

/**
 * The child runner (bench/child.mjs) imports the built engine from dist/ (or $TRIBUTARY_BENCH_DIST).
 * Throws when it is missing;
 * returns a warning when some file under src/ is newer than the build.
 */
export function checkDist(): string | undefined {
  const dist = process.env.TRIBUTARY_BENCH_DIST ?? join(REPO, "dist");
  const entry = join(dist, "index.js");
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const built = statSync(entry).mtimeMs;
  let newest = 0;
  let newestFile = "";
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        const m = statSync(p).mtimeMs;
        if (m > newest) [newest, newestFile] = [m, p];
      }
    }
  };
  walk(join(REPO, "src"));
  return newest > built
    ? `> **warning:** ${dist.startsWith(REPO) ? dist.slice(REPO.length + 1) : dist}/ is older than ${newestFile.slice(REPO.length + 1)}; the numbers below are for the last build. Run \`npm run build\`.\n`
    : undefined;
}

export const check = (ok: boolean): string => (ok ? "yes" : "**NO**");
