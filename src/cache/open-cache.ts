import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { StepId } from "../graph/ir.js";
import { ExplainState, type Explanation } from "./explain.js";
import { IndexLog } from "./index-log.js";
import { defaultCacheDir, Layout } from "./layout.js";
import { LocalCache, type OpenCacheOptions } from "./local-cache.js";
import { previousRunDigest } from "./run-tally.js";
import { StatCache } from "./stat-cache.js";
import { LocalDirStore } from "./store.js";

/** Opens (creating if needed) the cache directory `dir` for the project at `root`. */
export async function openCache(options: OpenCacheOptions): Promise<LocalCache> {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  const layout = new Layout(dir);
  const stateDir = layout.state(root);
  await Promise.all([layout.ac, layout.cas, layout.tmp, stateDir].map((d) => mkdir(d, { recursive: true })));
  await writeFile(join(dir, "CACHEDIR.TAG"), CACHEDIR_TAG, { flag: "wx" }).catch(() => {});
  const store = options.store ?? new LocalDirStore(dir);
  if (store instanceof LocalDirStore) await store.sweepTemps();
  // Problems found while loading are reported once the cache (and its warning counter) exists.
  const early: string[] = [];
  let sink: (message: string) => void = (m) => early.push(m);
  const warn = (m: string) => sink(m);
  const stat = StatCache.load(join(stateDir, "stat-cache"), warn);
  const index = IndexLog.load(join(stateDir, "index.log"), warn);
  const explain = new ExplainState(stateDir, previousRunDigest(stateDir));
  const c = new LocalCache({ ...options, root, dir }, store, stat, index, explain, options.onWarning);
  sink = (m) => c.warn(m);
  for (const m of early) c.warn(m);
  return c;
}

const CACHEDIR_TAG =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tributary.\n# For information about cache directory tags see https://bford.info/cachedir/\n";

/**
 * Why a step ran or was restored in the last recorded run of the project at `root`, without opening
 * the cache (for `tributary explain`).
 */
export function explainLastRun(options: { root: string; dir?: string }, stepId: StepId): Explanation {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  return new ExplainState(new Layout(dir).state(root), undefined).explain(stepId);
}
