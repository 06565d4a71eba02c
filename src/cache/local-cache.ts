import { statSync, type Stats } from "node:fs";
import { utimes } from "node:fs/promises";
import { resolve, sep } from "node:path";
import type { CacheLookup, StepCache } from "../engine/cache-port.js";
import type { StepId } from "../graph/ir.js";
import { digestBytes, digestFileSync } from "../graph/digest.js";
import { ModuleGraph } from "../graph/module-code.js";
import { EntryWriter } from "./entry-writer.js";
import type { ExplainState, Explanation } from "./explain.js";
import {
  fingerprint,
  fingerprintSync,
  type Fingerprint,
  type FingerprintEnv,
  type RichCacheRequest,
} from "./fingerprint.js";
import { IndexLog, type IndexEntry } from "./index-log.js";
import { defaultCacheDir, Layout } from "./layout.js";
import { decodeAcEntry, encodeAcEntry, parseManifest, type Manifest } from "./manifest.js";
import { OutputRestorer } from "./output-restore.js";
import { RunTally, type RunCounters } from "./run-tally.js";
import type { StatCache } from "./stat-cache.js";
import type { BlobStore } from "./store.js";

export interface OpenCacheOptions {
  /** Project root: output paths are relative to it, and it names the project's state in the cache. */
  root: string;
  /** Cache directory. Default `<root>/.tributary/cache` (the CLI: `--cache-dir`, `TRIBUTARY_CACHE_DIR`). */
  dir?: string;
  /** Called for every problem the cache works around (a damaged entry, a file changed while saved). */
  onWarning?: (message: string) => void;
  /**
   * false: never use a cached result — every step runs (a forced rerun of all, `--force "*"`) — but results
   * are still saved, replacing the old entries. Default true.
   */
  read?: boolean;
  /**
   * The steps whose cached result is not used in this run, as with `read: false` but step by step
   * (`--force STEP`): they run, and their results replace the old entries.
   */
  force?: (stepId: StepId) => boolean;
  /** false: never write entries (a read-only cache). Default true. */
  write?: boolean;
  /** Where declared env vars (`env: [...]`) are read. Pass the environment the steps get. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Another blob store behind the same local state (later: a shared directory, HTTP). */
  store?: BlobStore;
}

/** Entries used longer ago than this are marked used again at flush (LRU without slowing hits). */
const USE_REFRESH_MS = 3600_000;

/**
 * The content-addressed step cache over a local directory: an action cache (key → manifest) and a
 * cas (blobs by SHA-256), with a per-project index, stat cache and explain state. See docs/caching.md.
 * Looking entries up is done here; restoring their outputs, saving entries and counting the run are
 * delegated (output-restore.ts, entry-writer.ts, run-tally.ts).
 */
export class LocalCache implements StepCache {
  readonly root: string;
  readonly dir: string;
  readonly layout: Layout;
  readonly stateDir: string;
  readonly counters: RunCounters;
  /** Every warning of this run, in order (also sent to onWarning). */
  readonly warnings: string[] = [];
  /** Whether a step's cached result may be used (false: a forced rerun of it). */
  private readonly reads: (stepId: StepId) => boolean;
  private readonly write: boolean;
  private readonly seen = new Map<StepId, unknown>();
  /** Module code files (absolute) → the digest their steps' keys took, once a snapshot asked for them. */
  private readonly codeDigests = new Map<string, string>();
  private touch: string[] = [];
  private readonly fpEnv: FingerprintEnv;
  /** `<root>/` where paths can be joined by concatenation (POSIX). */
  private readonly rootPrefix: string | undefined;
  private readonly tally: RunTally;
  private readonly restorer: OutputRestorer;
  private readonly writer: EntryWriter;
  /** The other projects' indexes in this directory, loaded at the first key neither here nor in ac/. */
  private others: IndexLog[] | undefined;

  /** @internal use {@link openCache} */
  constructor(
    options: OpenCacheOptions,
    readonly store: BlobStore,
    readonly stat: StatCache,
    readonly index: IndexLog,
    private readonly explainState: ExplainState,
    private readonly onWarning: ((message: string) => void) | undefined,
    /**
     * The index is the entries' only record: the project's own directory with no store behind it
     * (see openCache). `ac/` then receives only the entries a compaction of the index drops.
     */
    private readonly indexOnly = false,
  ) {
    this.root = resolve(options.root);
    this.dir = resolve(options.dir ?? defaultCacheDir(this.root));
    this.layout = new Layout(this.dir);
    this.stateDir = this.layout.state(this.root);
    this.rootPrefix = sep === "/" && this.root !== "/" ? this.root + "/" : undefined;
    const force = options.force;
    this.reads = options.read === false ? () => false : force ? (id) => !force(id) : () => true;
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
    this.tally = new RunTally(explainState);
    this.counters = this.tally.counters;
    const warn = (message: string) => this.warn(message);
    this.restorer = new OutputRestorer(this.root, this.layout.tmp, store, stat, this.counters, warn);
    this.writer = new EntryWriter(this.root, this.reads, store, stat, index, this.counters, warn, indexOnly);
  }

  /**
   * The files of a module's code as this run's cache keys took them (see snapshot-scope.ts); undefined
   * when no key was made from it, or when it imports a local path that does not resolve (a file
   * appearing there would change the key, and a record cannot watch a name).
   */
  codeFilesOf(moduleFile: string): string[] | undefined {
    const id = this.fpEnv.modules.identitySync(moduleFile);
    if (!id || id.unresolved.length > 0) return undefined;
    for (const [f, digest] of Object.entries(id.files)) this.codeDigests.set(resolve(this.root, f), digest);
    return [id.module, ...Object.keys(id.files)];
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
      if (fp !== undefined && fp.key !== undefined && this.reads(request.step.id)) {
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
    this.counters.reusedFiles += outs.length;
    const id = request.step.id;
    this.seen.set(id, m.value);
    this.tally.hit(id, key);
    if (Date.now() - entry.t > USE_REFRESH_MS) this.touch.push(key);
    return { hit: true, value: m.value };
  }

  private async lookupAsync(request: RichCacheRequest, known: Fingerprint | undefined): Promise<CacheLookup> {
    const id = request.step.id;
    this.counters.lookups++;
    const fp = known ?? (await fingerprint(request, this.fpEnv));
    if (fp.key === undefined) return this.tally.uncacheable(id, fp.reason);
    const key = fp.key;
    if (!this.reads(id)) return this.tally.forced(id, key, fp.text);

    let json: string | undefined;
    let fromIndex = false;
    // Another run of this project may have saved it since this one read the index (a stat when not).
    const entry = this.index.get(key) ?? (this.index.refresh() ? this.index.get(key) : undefined);
    if (entry) {
      json = entry.json;
      fromIndex = true;
    } else {
      const found = await this.readAc(key, id);
      if ("json" in found) json = found.json;
      else {
        json = found.why === undefined ? this.fromOtherProjects(key) : undefined;
        if (json === undefined) return this.tally.miss(id, key, fp.text, found.why);
      }
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(json);
    } catch (err) {
      if (fromIndex)
        return this.tally.miss(id, key, fp.text, `its index entry is unreadable: ${(err as Error).message}`);
      this.warn(
        `cache entry ${key.slice(0, 12)} of ${id} is damaged (${(err as Error).message}); running the step`,
      );
      return this.tally.miss(id, key, fp.text, "the cache entry was damaged");
    }
    const got = await this.restorer.materialize(manifest, request);
    if ("why" in got) return this.tally.miss(id, key, fp.text, got.why);

    this.seen.set(id, got.value);
    this.tally.hit(id, key);
    const source = !fromIndex && this.store.fromRemote?.(key) ? "remote" : "local";
    const now = Date.now();
    if (!fromIndex) {
      this.index.add(key, id, json, now);
      this.tally.noteFingerprint(key, fp.text);
      this.touch.push(key);
    } else if (now - entry!.t > USE_REFRESH_MS) {
      this.touch.push(key);
    }
    return { hit: true, value: got.value, source };
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
    if (!this.reads(request.step.id))
      return { hit: false, key, reason: "the cache is not read (forced rerun)" };
    let json = this.index.get(key)?.json;
    if (json === undefined) {
      const data = await this.store.get("ac", key).catch(() => undefined);
      if (data) {
        const decoded = decodeAcEntry(data);
        if ("error" in decoded) return { hit: false, key, reason: `its cache entry is ${decoded.error}` };
        json = decoded.json;
      } else {
        json = this.fromOtherProjects(key);
        if (json === undefined) return { hit: false, key, reason: "not in the cache" };
      }
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
      if (placed === o.digest || o.inline !== undefined) continue;
      if (!(await this.store.has("cas", o.digest).catch(() => false))) {
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
    await this.writer.save(key, request, value);
  }

  /** The keys of the entries this run restored (from the local cache or the store behind it). */
  hitKeys(): readonly string[] {
    return this.tally.hitKeys;
  }

  /** The entry under `key` as the project's index records it, in `ac/`'s encoding; undefined if not. */
  recordedEntry(key: string): Buffer | undefined {
    const e = this.index.get(key);
    return e ? encodeAcEntry(e.json) : undefined;
  }

  /** This run's decision for a step in one line, as `explain` words it (for the engine's cache events). */
  reasonOf(stepId: StepId): string | undefined {
    return this.explainState.reasonOf(stepId);
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
    await this.writer.drain();
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
      await this.index.compactIfNeeded(
        this.counters.lookups,
        this.indexOnly ? (dropped) => this.spill(dropped) : undefined,
      );
    } catch (err) {
      this.warn(`could not write the cache index: ${(err as Error).message}`);
    } finally {
      this.index.close();
    }
    if (this.counters.lookups === 0 && this.counters.saved === 0) return;
    try {
      await this.tally.write(this.root, this.stateDir, this.layout);
    } catch (err) {
      this.warn(`could not write the run's explain data: ${(err as Error).message}`);
    }
  }

  /**
   * Writes entries the index is about to drop to `ac/`, each with its last use as its time (what gc's
   * least-recently-used order reads), so that they are still found. The index's version of an entry is
   * its newest: it replaces what `ac/` may hold under the key.
   */
  private async spill(dropped: [string, IndexEntry][]): Promise<void> {
    for (const [key, e] of dropped) {
      await this.store.put("ac", key, encodeAcEntry(e.json), { mode: "replace" });
      const t = new Date(e.t);
      await utimes(this.layout.acPath(key), t, t);
    }
  }

  /** flush() and release the clock probe. */
  async close(): Promise<void> {
    await this.flush();
    this.stat.close();
  }

  /**
   * For the null-run snapshot: whether the content the cache hashed for this file (by its absolute path)
   * is what it holds now, at stat `st` (see StatCache.confirms). A file changed during the run, after
   * its step read it, must not be recorded as up to date.
   */
  confirmsContent(abs: string, st: Stats): boolean {
    if (this.stat.confirms(abs, st)) return true;
    // Module code is read by the module graph, not through the stat cache: its digest is the key's.
    const code = this.codeDigests.get(abs);
    if (code === undefined) return false;
    try {
      return digestFileSync(abs) === code;
    } catch {
      return false;
    }
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

  /**
   * An entry another project saved in this directory and recorded only in its index (its own
   * directory, used by this project too: `--cache-dir` pointing at it), or undefined.
   */
  private fromOtherProjects(key: string): string | undefined {
    this.others ??= IndexLog.loadAll(this.layout.stateRoot, this.stateDir);
    for (const other of this.others) {
      const e = other.get(key);
      if (e) return e.json;
    }
    return undefined;
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
}
