import { chmodSync, mkdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { CacheLookup, StepCache } from "../engine/cache-port.js";
import { isFileValue, type StepId } from "../graph/ir.js";
import { moveIntoPlace, withTempFile, writeFileAtomic } from "./atomic-write.js";
import { digestBytes, digestFile } from "../graph/digest.js";
import { ExplainState, type Explanation } from "./explain.js";
import {
  fingerprint,
  fingerprintSync,
  type Fingerprint,
  type FingerprintEnv,
  type RichCacheRequest,
} from "./fingerprint.js";
import { syncFsOps } from "./fs-ops.js";
import { IndexLog } from "./index-log.js";
import { defaultCacheDir, Layout, tempName } from "./layout.js";
import {
  decodeAcEntry,
  encodeAcEntry,
  INLINE_VALUE_LIMIT,
  parseManifest,
  type Manifest,
  type OutputRecord,
} from "./manifest.js";
import { ModuleGraph } from "../graph/module-code.js";
import { StatCache } from "./stat-cache.js";
import { LocalDirStore, type BlobStore } from "./store.js";

export interface OpenCacheOptions {
  /** Project root: output paths are relative to it, and it names the project's state in the cache. */
  root: string;
  /** Cache directory. Default `<root>/.tributary/cache` (the CLI: `--cache-dir`, `TRIBUTARY_CACHE_DIR`). */
  dir?: string;
  /** Called for every problem the cache works around (a damaged entry, a file changed while saved). */
  onWarning?: (message: string) => void;
  /**
   * false: never use a cached result — every step runs (`--no-cache`, a forced rerun) — but results
   * are still saved, replacing the old entries. Default true.
   */
  read?: boolean;
  /** false: never write entries (a read-only cache). Default true. */
  write?: boolean;
  /** Where declared env vars (`env: [...]`) are read. Pass the environment the steps get. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Another blob store behind the same local state (later: a shared directory, HTTP). */
  store?: BlobStore;
}

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

/** Entries used longer ago than this are marked used again at flush (LRU without slowing hits). */
const USE_REFRESH_MS = 3600_000;

/**
 * The content-addressed step cache over a local directory: an action cache (key → manifest) and a
 * cas (blobs by SHA-256), with a per-project index, stat cache and explain state. See docs/caching.md.
 */
export class LocalCache implements StepCache {
  readonly root: string;
  readonly dir: string;
  readonly layout: Layout;
  readonly stateDir: string;
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
  /** Every warning of this run, in order (also sent to onWarning). */
  readonly warnings: string[] = [];
  private readonly read: boolean;
  private readonly write: boolean;
  private readonly seen = new Map<StepId, unknown>();
  private touch: string[] = [];
  private readonly fpEnv: FingerprintEnv;
  /** `<root>/` where paths can be joined by concatenation (POSIX). */
  private readonly rootPrefix: string | undefined;

  /** @internal use {@link openCache} */
  constructor(
    options: OpenCacheOptions,
    readonly store: BlobStore,
    readonly stat: StatCache,
    readonly index: IndexLog,
    private readonly explainState: ExplainState,
    private readonly onWarning: ((message: string) => void) | undefined,
  ) {
    this.root = resolve(options.root);
    this.dir = resolve(options.dir ?? defaultCacheDir(this.root));
    this.layout = new Layout(this.dir);
    this.stateDir = this.layout.state(this.root);
    this.rootPrefix = sep === "/" && this.root !== "/" ? this.root + "/" : undefined;
    this.read = options.read !== false;
    this.write = options.write !== false;
    this.fpEnv = {
      root: this.root,
      rootPrefix: this.rootPrefix,
      env: options.env ?? process.env,
      digest: (abs) => this.stat.digest(abs),
      digestSync: (abs) => this.stat.digestSync(abs),
      statics: new WeakMap(),
      modules: new ModuleGraph(this.root),
      valueOf: (id) => (this.seen.has(id) ? { value: this.seen.get(id) } : undefined),
    };
  }

  /** Content digest of a file, through the stat cache. */
  digest(absPath: string): Promise<string> {
    return this.stat.digest(absPath);
  }

  lookup(request: RichCacheRequest): Promise<CacheLookup> {
    // The null build's path: key, index entry and output check without any I/O but stat() calls and
    // without awaiting anything. Whatever needs more (reading ac/, hashing, restoring) goes async.
    let fp: Fingerprint | undefined;
    try {
      fp = fingerprintSync(request, this.fpEnv);
      if (fp !== undefined && fp.key !== undefined && this.read) {
        const hit = this.hitFromIndex(request, fp.key);
        if (hit) return Promise.resolve(hit);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.lookupAsync(request, fp);
  }

  /** The absolute path of a project-relative output path (normalized, `/`-separated). */
  private absolute(rel: string): string {
    return this.rootPrefix !== undefined ? this.rootPrefix + rel : resolve(this.root, rel);
  }

  /** A hit served from the index with every output already in place, or undefined. */
  private hitFromIndex(request: RichCacheRequest, key: string): CacheLookup | undefined {
    const entry = this.index.get(key);
    if (!entry) return undefined;
    let m: Manifest;
    try {
      m = JSON.parse(entry.json) as Manifest;
    } catch {
      return undefined;
    }
    if (m.format !== 1 || m.valueBlob !== undefined || !Array.isArray(m.outputs)) return undefined;
    const outs = m.outputs;
    if (outs.length !== request.outputs.length) return undefined;
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      if (o.path !== request.outputs[i]) return undefined;
      const abs = this.absolute(o.path);
      const st = statSync(abs, { throwIfNoEntry: false });
      if (!st || (st.mode & 0o777) !== o.mode || this.stat.known(abs, st) !== o.digest) return undefined;
    }
    this.counters.lookups++;
    this.counters.hits++;
    this.counters.reusedFiles += outs.length;
    const id = request.step.id;
    this.seen.set(id, m.value);
    this.explainState.record(id, { key, outcome: "hit" });
    if (Date.now() - entry.t > USE_REFRESH_MS) this.touch.push(key);
    return { hit: true, value: m.value };
  }

  private async lookupAsync(request: RichCacheRequest, known: Fingerprint | undefined): Promise<CacheLookup> {
    const id = request.step.id;
    this.counters.lookups++;
    const fp = known ?? (await fingerprint(request, this.fpEnv));
    if (fp.key === undefined) {
      this.counters.uncacheable++;
      this.explainState.record(id, { outcome: "uncacheable", detail: fp.reason });
      return { hit: false, key: undefined, reason: `not cacheable: ${fp.reason}` };
    }
    const key = fp.key;
    if (!this.read) {
      this.counters.forced++;
      this.explainState.record(id, { key, outcome: "forced" });
      this.explainState.noteFingerprint(key, fp.text);
      return { hit: false, key, reason: "the cache is not read (forced rerun)" };
    }

    let json: string | undefined;
    let fromIndex = false;
    const entry = this.index.get(key);
    if (entry) {
      json = entry.json;
      fromIndex = true;
    } else {
      const found = await this.readAc(key, id);
      if ("json" in found) json = found.json;
      else return this.miss(request, key, fp.text, found.why);
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(json);
    } catch (err) {
      if (fromIndex)
        return this.miss(request, key, fp.text, `its index entry is unreadable: ${(err as Error).message}`);
      this.warn(
        `cache entry ${key.slice(0, 12)} of ${id} is damaged (${(err as Error).message}); running the step`,
      );
      return this.miss(request, key, fp.text, "the cache entry was damaged");
    }
    const got = await this.materialize(manifest, request);
    if ("why" in got) return this.miss(request, key, fp.text, got.why);

    this.counters.hits++;
    this.seen.set(id, got.value);
    this.explainState.record(id, { key, outcome: "hit" });
    const now = Date.now();
    if (!fromIndex) {
      this.index.add(key, id, json, now);
      this.explainState.noteFingerprint(key, fp.text);
      this.touch.push(key);
    } else if (now - entry!.t > USE_REFRESH_MS) {
      this.touch.push(key);
    }
    return { hit: true, value: got.value };
  }

  /**
   * Like {@link lookup}, but changes nothing on disk: no output is restored, no entry repaired, nothing
   * counted (for `plan` and `--dry-run`). A hit means the step would be restored: its entry is valid
   * and each output is either in place or available in the store.
   */
  async probe(request: RichCacheRequest): Promise<CacheLookup> {
    const fp = await fingerprint(request, this.fpEnv);
    if (fp.key === undefined) return { hit: false, key: undefined, reason: `not cacheable: ${fp.reason}` };
    const key = fp.key;
    if (!this.read) return { hit: false, key, reason: "the cache is not read (forced rerun)" };
    let json = this.index.get(key)?.json;
    if (json === undefined) {
      const data = await this.store.get("ac", key).catch(() => undefined);
      if (!data) return { hit: false, key, reason: "not in the cache" };
      const decoded = decodeAcEntry(data);
      if ("error" in decoded) return { hit: false, key, reason: `its cache entry is ${decoded.error}` };
      json = decoded.json;
    }
    let m: Manifest;
    try {
      m = parseManifest(json);
    } catch (err) {
      return { hit: false, key, reason: `its cache entry is damaged: ${(err as Error).message}` };
    }
    const outs = m.outputs;
    if (outs.length !== request.outputs.length || outs.some((o, i) => o.path !== request.outputs[i])) {
      return { hit: false, key, reason: "the cache entry names other output files" };
    }
    let value: unknown = m.value;
    if (m.valueBlob) {
      const data = await this.store.get("cas", m.valueBlob.digest).catch(() => undefined);
      if (!data || digestBytes(data) !== m.valueBlob.digest)
        return { hit: false, key, reason: "its value blob is missing or damaged" };
      value = JSON.parse(data.toString());
    }
    for (const o of outs) {
      const abs = this.absolute(o.path);
      const placed = await this.stat.digest(abs).catch(() => undefined);
      if (placed !== o.digest && !(await this.store.has("cas", o.digest).catch(() => false))) {
        return { hit: false, key, reason: `the blob of ${o.path} is missing from the cache` };
      }
    }
    this.seen.set(request.step.id, value);
    return { hit: true, value };
  }

  async save(key: string, request: RichCacheRequest, value: unknown): Promise<void> {
    const id = request.step.id;
    this.seen.set(id, value);
    if (!this.write) return;
    const expected = new Map<string, string>();
    for (const f of [value].flat()) if (isFileValue(f)) expected.set(f.$file, f.digest);

    const outputs: OutputRecord[] = [];
    for (const path of request.outputs) {
      const abs = resolve(this.root, path);
      const clock = this.stat.clock();
      const before = statSync(abs);
      const { digest, size } = await this.store.putFile(abs);
      const after = statSync(abs);
      const want = expected.get(path);
      if (want !== undefined && want !== digest) {
        this.warn(
          `${path} (output of ${id}) changed while it was being saved; ${id} is not cached this time`,
        );
        return;
      }
      if (sameStat(before, after)) this.stat.note(abs, after, digest, clock);
      outputs.push({ path, digest, size, mode: before.mode & 0o777 });
    }

    const manifest: Manifest = { format: 1, outputs };
    if (value !== undefined) {
      const text = JSON.stringify(value);
      if (text.length > INLINE_VALUE_LIMIT) {
        const bytes = Buffer.from(text);
        const digest = digestBytes(bytes);
        await this.store.put("cas", digest, bytes, { mode: "replace" });
        manifest.valueBlob = { digest, size: bytes.length };
      } else {
        manifest.value = value;
      }
    }
    const json = JSON.stringify(manifest);
    await this.writeAc(key, json, id);
    this.index.add(key, id, json, Date.now());
    this.counters.saved++;
  }

  /** Why a step ran or was restored (this run if it was looked up, else the last recorded run). */
  explainStep(stepId: StepId): Explanation {
    return this.explainState.explain(stepId);
  }

  /**
   * Writes what the run learnt: the stat cache (after re-hashing racy files), the index, use times,
   * explain state and the run's counters. Call it once at the end of a run (again is harmless).
   */
  async flush(): Promise<void> {
    try {
      await this.stat.settle();
      await this.stat.flush();
    } catch (err) {
      this.warn(`could not write the stat cache: ${(err as Error).message}`);
    }
    try {
      if (this.touch.length > 0) {
        const keys = this.touch;
        this.touch = [];
        this.index.use(keys, Date.now());
        await this.store.touch("ac", keys);
      }
      this.index.writePending();
      await this.index.compactIfNeeded(this.counters.lookups);
    } catch (err) {
      this.warn(`could not write the cache index: ${(err as Error).message}`);
    }
    if (this.counters.lookups === 0 && this.counters.saved === 0) return;
    try {
      const runDigest = await this.explainState.flush();
      const c = this.counters;
      const last: LastRun = {
        at: new Date().toISOString(),
        root: this.root,
        ...c,
        hitRate: c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null,
        runDigest,
      };
      const text = JSON.stringify(last, null, 2) + "\n";
      await writeFileAtomic(join(this.stateDir, "run.json"), text, { createDirs: true });
      await writeFileAtomic(this.layout.lastRun, text, { createDirs: true });
    } catch (err) {
      this.warn(`could not write the run's explain data: ${(err as Error).message}`);
    }
  }

  /** flush() and release the clock probe. */
  async close(): Promise<void> {
    await this.flush();
    this.stat.close();
  }

  private miss(request: RichCacheRequest, key: string, text: string, why: string | undefined): CacheLookup {
    this.counters.misses++;
    const r: { key: string; outcome: "miss"; detail?: string } = { key, outcome: "miss" };
    if (why) r.detail = why;
    this.explainState.record(request.step.id, r);
    this.explainState.noteFingerprint(key, text);
    return why ? { hit: false, key, reason: why } : { hit: false, key };
  }

  /**
   * For the null-run snapshot: whether the content the cache hashed for this file (by its absolute path)
   * is what it holds now, at stat `st` (see StatCache.confirms). A file changed during the run, after
   * its step read it, must not be recorded as up to date.
   */
  confirmsContent(abs: string, st: Stats): boolean {
    return this.stat.confirms(abs, st);
  }

  /**
   * A lower bound of the time stamps any write starting now will get: the earlier of the file system's
   * clock and the wall clock (file time stamps can lag the wall clock by a tick or more).
   */
  writeClock(): number {
    return Math.min(this.stat.clock().fs, Date.now());
  }

  /** @internal */
  warn(message: string): void {
    this.counters.warnings++;
    this.warnings.push(message);
    this.onWarning?.(message);
  }

  private async readAc(key: string, id: StepId): Promise<{ json: string } | { why: string | undefined }> {
    let data: Buffer | undefined;
    try {
      data = await this.store.get("ac", key);
    } catch (err) {
      this.warn(`cannot read cache entry ${key.slice(0, 12)} of ${id}: ${(err as Error).message}`);
      return { why: "the cache entry could not be read" };
    }
    if (!data) return { why: undefined };
    const decoded = decodeAcEntry(data);
    if ("error" in decoded) {
      this.warn(
        `cache entry ${key.slice(0, 12)} of ${id} is ${decoded.error}; running the step (its result will replace the entry)`,
      );
      return { why: "the cache entry was damaged" };
    }
    return decoded;
  }

  private async writeAc(key: string, json: string, id: StepId): Promise<void> {
    const data = encodeAcEntry(json);
    if (!this.read) {
      // A forced rerun replaces what is there: the point is not to trust it.
      await this.store.put("ac", key, data, { mode: "replace" });
      return;
    }
    const existing = await this.store.get("ac", key).catch(() => undefined);
    if (existing) {
      const d = decodeAcEntry(existing);
      if ("json" in d) {
        try {
          parseManifest(d.json);
          return; // a valid entry is never overwritten (first writer wins)
        } catch {
          // damaged: replace below
        }
      }
      await this.store.put("ac", key, data, { mode: "replace" });
      this.warn(`repaired damaged cache entry ${key.slice(0, 12)} of ${id}`);
      return;
    }
    await this.store.put("ac", key, data, { mode: "create" });
  }

  /** The value of a manifest with its output files in place, or why not. */
  private async materialize(
    m: Manifest,
    request: RichCacheRequest,
  ): Promise<{ value: unknown } | { why: string }> {
    const outs = m.outputs;
    if (outs.length !== request.outputs.length || outs.some((o, i) => o.path !== request.outputs[i])) {
      return { why: "the cache entry names other output files" };
    }
    let value: unknown;
    if (m.valueBlob) {
      const data = await this.store.get("cas", m.valueBlob.digest).catch(() => undefined);
      if (!data) return { why: "its value blob is missing from the cache (evicted?)" };
      if (digestBytes(data) !== m.valueBlob.digest) {
        this.warn(
          `cache blob ${m.valueBlob.digest.slice(0, 12)} (value of ${request.step.id}) is damaged; running the step`,
        );
        await this.store.delete("cas", m.valueBlob.digest).catch(() => {});
        return { why: "its value blob was damaged" };
      }
      value = JSON.parse(data.toString());
    } else {
      value = m.value;
    }
    for (const o of outs) {
      const why = await this.placeOutput(o, request.step.id);
      if (why) return { why };
    }
    return { value };
  }

  /** Makes sure an output file is in the project with the recorded content and mode. */
  private async placeOutput(o: OutputRecord, id: StepId): Promise<string | undefined> {
    const abs = resolve(this.root, o.path);
    let st: Stats | undefined;
    try {
      st = statSync(abs);
    } catch {
      st = undefined;
    }
    if (st?.isFile()) {
      let d = this.stat.known(abs, st);
      if (d === undefined) d = await this.stat.digest(abs).catch(() => undefined);
      if (d === o.digest) {
        if ((st.mode & 0o777) !== o.mode) chmodSync(abs, o.mode);
        this.counters.reusedFiles++;
        return undefined;
      }
    }
    return this.restoreFile(o, abs, id);
  }

  private async restoreFile(o: OutputRecord, abs: string, id: StepId): Promise<string | undefined> {
    // Synchronous file calls: see fs-ops.ts for why (a restore is a handful of them per output).
    mkdirSync(dirname(abs), { recursive: true });
    // Hard links share the inode with the cache: only for read-only files (the blob's own mode), so
    // that an in-place edit of the restored file cannot silently change the cached blob.
    const link = o.mode === 0o444;
    mkdirSync(this.layout.tmp, { recursive: true });
    const fill = async (tmp: string): Promise<string | undefined> => {
      let got: boolean;
      try {
        got = await this.store.getFile(o.digest, tmp, { link });
      } catch (err) {
        this.warn(
          `cannot read cache blob ${o.digest.slice(0, 12)} (${o.path} of ${id}): ${(err as Error).message}`,
        );
        return "an output blob could not be read";
      }
      if (!got) return `the blob of ${o.path} is missing from the cache (evicted?)`;
      const clock = this.stat.clock();
      const d = await digestFile(tmp);
      if (d !== o.digest) {
        this.warn(`cache blob ${o.digest.slice(0, 12)} (${o.path} of ${id}) is damaged; running the step`);
        await this.store.delete("cas", o.digest).catch(() => {});
        return `the blob of ${o.path} was damaged`;
      }
      if (!link) chmodSync(tmp, o.mode);
      // Across file systems (the cache elsewhere than the project) the copy is staged beside `abs`.
      await moveIntoPlace(tmp, abs, { io: syncFsOps });
      this.stat.note(abs, statSync(abs), d, clock);
      this.counters.restoredFiles++;
      this.counters.restoredBytes += o.size;
      return undefined;
    };
    return withTempFile(join(this.layout.tmp, tempName()), fill, syncFsOps);
  }
}

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
  let previousRunDigest: string | undefined;
  try {
    previousRunDigest = (JSON.parse(readFileSync(join(stateDir, "run.json"), "utf8")) as LastRun).runDigest;
  } catch {
    // first run
  }
  const explain = new ExplainState(stateDir, previousRunDigest);
  const c = new LocalCache({ ...options, root, dir }, store, stat, index, explain, options.onWarning);
  sink = (m) => c.warn(m);
  for (const m of early) c.warn(m);
  return c;
}

const CACHEDIR_TAG =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tributary.\n# For information about cache directory tags see https://bford.info/cachedir/\n";

function sameStat(a: Stats, b: Stats): boolean {
  return (
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs &&
    a.size === b.size &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

/** Reads the last-run counters of a cache directory (for `cacheStats`). */
export async function readLastRun(dir: string): Promise<LastRun | undefined> {
  try {
    return JSON.parse(await readFile(new Layout(dir).lastRun, "utf8")) as LastRun;
  } catch {
    return undefined;
  }
}

/**
 * Why a step ran or was restored in the last recorded run of the project at `root`, without opening
 * the cache (for `tributary explain`).
 */
export function explainLastRun(options: { root: string; dir?: string }, stepId: StepId): Explanation {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  return new ExplainState(new Layout(dir).state(root), undefined).explain(stepId);
}
