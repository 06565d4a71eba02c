import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CacheLookup } from "../engine/cache-port.js";
import type { StepId } from "../graph/ir.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { ExplainState } from "./explain.js";
import { Layout } from "./layout.js";

/** Counters of one run (since open), written at flush to run.json / last-run.json. */
export interface RunCounters {
  lookups: number;
  hits: number;
  misses: number;
  forced: number;
  uncacheable: number;
  saved: number;
  /** Output files written into the project from the cache. */
  restoredFiles: number;
  restoredBytes: number;
  /** Output files of hits that were already in place with the right content. */
  reusedFiles: number;
  warnings: number;
}

export interface LastRun extends RunCounters {
  at: string;
  root: string;
  /** hits / (hits + misses), undefined when nothing was looked up. */
  hitRate: number | null;
  runDigest: string;
}

/**
 * What the lookups of a run came to: counted (run.json, `cache stats`) and recorded for `explain` in
 * one place, so that the two cannot disagree.
 */
export class RunTally {
  readonly counters: RunCounters = {
    lookups: 0,
    hits: 0,
    misses: 0,
    forced: 0,
    uncacheable: 0,
    saved: 0,
    restoredFiles: 0,
    restoredBytes: 0,
    reusedFiles: 0,
    warnings: 0,
  };

  /** The keys of this run's hits (what a remote cache must have for the run to be shared). */
  readonly hitKeys: string[] = [];

  constructor(private readonly explain: ExplainState) {}

  hit(id: StepId, key: string): void {
    this.counters.hits++;
    this.hitKeys.push(key);
    this.explain.record(id, { key, outcome: "hit" });
  }

  miss(id: StepId, key: string, text: string, why: string | undefined): CacheLookup {
    this.counters.misses++;
    const r: { key: string; outcome: "miss"; detail?: string } = { key, outcome: "miss" };
    if (why) r.detail = why;
    this.explain.record(id, r);
    this.explain.noteFingerprint(key, text);
    return why ? { hit: false, key, reason: why } : { hit: false, key };
  }

  forced(id: StepId, key: string, text: string): CacheLookup {
    this.counters.forced++;
    this.explain.record(id, { key, outcome: "forced" });
    this.explain.noteFingerprint(key, text);
    return { hit: false, key, reason: "the cache is not read (forced rerun)" };
  }

  uncacheable(id: StepId, reason: string): CacheLookup {
    this.counters.uncacheable++;
    this.explain.record(id, { outcome: "uncacheable", detail: reason });
    return { hit: false, key: undefined, reason: `not cacheable: ${reason}` };
  }

  /** Remembers what a key hashes, for `explain` (a key this project had not seen before). */
  noteFingerprint(key: string, text: string): void {
    this.explain.noteFingerprint(key, text);
  }

  /**
   * Writes the explain state and the counters: to the project's run.json (`stateDir`) and the cache
   * directory's last-run.json.
   */
  async write(root: string, stateDir: string, layout: Layout): Promise<void> {
    const runDigest = await this.explain.flush();
    const c = this.counters;
    const last: LastRun = {
      at: new Date().toISOString(),
      root,
      ...c,
      hitRate: c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null,
      runDigest,
    };
    const text = JSON.stringify(last, null, 2) + "\n";
    await writeFileAtomic(join(stateDir, "run.json"), text, { createDirs: true });
    await writeFileAtomic(layout.lastRun, text, { createDirs: true });
  }
}

/** The digest of the lookups of the project's last run (from its run.json); undefined on the first run. */
export function previousRunDigest(stateDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, "run.json"), "utf8")) as LastRun).runDigest;
  } catch {
    return undefined; // first run
  }
}

/** Reads the last-run counters of a cache directory (for `cacheStats`). */
export async function readLastRun(dir: string): Promise<LastRun | undefined> {
  try {
    return JSON.parse(await readFile(new Layout(dir).lastRun, "utf8")) as LastRun;
  } catch {
    return undefined;
  }
}
