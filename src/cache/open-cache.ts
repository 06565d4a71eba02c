import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { StepId } from "../graph/ir.js";
import { ExplainState, type Explanation } from "./explain.js";
import { makeDirs } from "./fs-ops.js";
import { IndexLog } from "./index-log.js";
import { defaultCacheDir, Layout } from "./layout.js";
import { LocalCache, type OpenCacheOptions } from "./local-cache.js";
import { decodeAcEntry, parseManifest } from "./manifest.js";
import { previousRunDigest } from "./run-tally.js";
import { StatCache } from "./stat-cache.js";
import { LocalDirStore } from "./store.js";

/** Opens (creating if needed) the cache directory `dir` for the project at `root`. */
export async function openCache(options: OpenCacheOptions): Promise<LocalCache> {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  const layout = new Layout(dir);
  const stateDir = layout.state(root);
  await Promise.all([layout.ac, layout.cas, layout.tmp, stateDir].map((d) => makeDirs(d)));
  await writeFile(join(dir, "CACHEDIR.TAG"), CACHEDIR_TAG, { flag: "wx" }).catch(() => {});
  const store = options.store ?? new LocalDirStore(dir);
  if (store instanceof LocalDirStore) await store.sweepTemps();
  // Problems found while loading are reported once the cache (and its warning counter) exists.
  const early: string[] = [];
  let sink: (message: string) => void = (m) => early.push(m);
  const warn = (m: string) => sink(m);
  // The project's own directory, which no other project writes and nothing reads behind: its index is
  // the entries' record, and a file in ac/ per entry (a creation each) would serve no one.
  const indexOnly = options.store === undefined && dir === defaultCacheDir(root);
  const stat = StatCache.load(join(stateDir, "stat-cache"), warn);
  const index = IndexLog.load(join(stateDir, "index.log"), warn);
  const explain = new ExplainState(stateDir, previousRunDigest(stateDir));
  const c = new LocalCache(
    { ...options, root, dir },
    store,
    stat,
    index,
    explain,
    options.onWarning,
    indexOnly,
  );
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

/** The steps (map items included) whose lookups the last recorded run of the project kept. */
export function recordedSteps(options: { root: string; dir?: string }): StepId[] {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  return [...new ExplainState(new Layout(dir).state(root), undefined).lastKeys().keys()];
}

/**
 * The output files the project's steps wrote as last recorded, by step id, for the steps `accept`
 * takes: what the cache entry of each one's last lookup names (for `tributary clean`, which learns this
 * way what the items of a map wrote), from the project's index or `ac/`. A step whose entry is gone
 * from the cache (evicted, cleaned) or that could not be cached is not known. Reads; changes nothing.
 */
export function recordedOutputs(
  options: { root: string; dir?: string },
  accept: (stepId: StepId) => boolean,
): Map<StepId, string[]> {
  const root = resolve(options.root);
  const layout = new Layout(resolve(options.dir ?? defaultCacheDir(root)));
  const stateDir = layout.state(root);
  const index = IndexLog.load(join(stateDir, "index.log"), () => {});
  const out = new Map<StepId, string[]>();
  for (const [id, key] of new ExplainState(stateDir, undefined).lastKeys()) {
    if (!accept(id) || !/^[0-9a-f]{64}$/.test(key)) continue;
    try {
      let json = index.get(key)?.json;
      if (json === undefined) {
        const decoded = decodeAcEntry(readFileSync(layout.acPath(key)));
        if (!("json" in decoded)) continue;
        json = decoded.json;
      }
      out.set(
        id,
        parseManifest(json).outputs.map((o) => o.path),
      );
    } catch {
      // Not in this cache (any more): nothing known.
    }
  }
  return out;
}
