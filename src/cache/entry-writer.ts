import { readFileSync, statSync, type Stats } from "node:fs";
import { resolve } from "node:path";
import { isFileValue, type StepId } from "../graph/ir.js";
import { digestBytes } from "../graph/digest.js";
import type { RichCacheRequest } from "./fingerprint.js";
import type { IndexLog } from "./index-log.js";
import {
  decodeAcEntry,
  encodeAcEntry,
  INLINE_OUTPUT_LIMIT,
  INLINE_VALUE_LIMIT,
  parseManifest,
  type Manifest,
  type OutputRecord,
} from "./manifest.js";
import type { RunCounters } from "./run-tally.js";
import { sameStats, type StatCache } from "./stat-cache.js";
import type { BlobStore } from "./store.js";

/**
 * Saves a step's result as a cache entry: its output files and a large value into the cas, its
 * manifest into the project's index and, unless the index is the entries' only record, the action
 * cache. A valid entry is never overwritten (first writer wins) unless the cache is not read (a forced
 * rerun); a damaged one is repaired.
 */
export class EntryWriter {
  /** Action-cache writes of entries the index already holds, in the order they were saved. */
  private readonly behind: (() => Promise<void>)[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    /** False for a step forced to rerun: its existing entry is replaced, not trusted. */
    private readonly reads: (stepId: StepId) => boolean,
    private readonly store: BlobStore,
    private readonly stat: StatCache,
    private readonly index: IndexLog,
    private readonly counters: RunCounters,
    private readonly warn: (message: string) => void,
    /** The index is the entries' record (a project's own cache directory): `ac/` is not written. */
    private readonly indexOnly: boolean,
  ) {}

  async save(key: string, request: RichCacheRequest, value: unknown): Promise<void> {
    const id = request.step.id;
    const expected = new Map<string, string>();
    for (const f of [value].flat()) if (isFileValue(f)) expected.set(f.$file, f.digest);

    const outputs: OutputRecord[] = [];
    for (const path of request.outputs) {
      const abs = resolve(this.root, path);
      const before = statSync(abs);
      // Read and hashed for the step's value moments ago, and unchanged since: not read again.
      const recent = this.stat.recentBytes(abs, before);
      const content = recent ? { ...recent, size: recent.bytes.length } : await this.readOutput(abs, before);
      const want = expected.get(path);
      if (want !== undefined && want !== content.digest) {
        this.warn(
          `${path} (output of ${id}) changed while it was being saved; ${id} is not cached this time`,
        );
        return;
      }
      const { digest, size, bytes } = content;
      const record: OutputRecord = { path, digest, size, mode: before.mode & 0o777 };
      if (bytes) record.inline = bytes.toString("base64");
      outputs.push(record);
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
    if (!this.index.add(key, id, json, Date.now())) {
      await this.writeAc(key, json, id);
      this.counters.saved++;
      return;
    }
    // Saved once the index has it on disk: one append, where ac/ takes a new file (a file creation, up
    // to a millisecond on some disks). Where ac/ is written at all, the step's dependents start first;
    // ac/ follows at the end of this turn of the event loop (a run killed in between finds the entry in
    // the index), and the cache's flush waits for it.
    this.index.writePending();
    this.counters.saved++;
    if (this.indexOnly) return;
    this.behind.push(() => this.writeAc(key, json, id));
    if (this.behind.length === 1) setImmediate(() => void this.writeBehind());
  }

  /**
   * An output's digest: a small one's bytes (for its manifest), a larger one stored in the cas. The stat
   * cache notes the digest when the file did not change while it was read.
   */
  private async readOutput(
    abs: string,
    before: Stats,
  ): Promise<{ digest: string; bytes?: Buffer; size: number }> {
    // Before the read: see StatCache.note.
    const clock = this.stat.clock();
    const small = smallContent(abs, before.size);
    const read = small
      ? { digest: digestBytes(small), bytes: small, size: small.length }
      : await this.store.putFile(abs);
    const after = statSync(abs);
    if (sameStats(before, after)) this.stat.note(abs, after, read.digest, clock);
    return read;
  }

  /** Writes the action-cache entries saved so far (see save); resolves when none is left. */
  async drain(): Promise<void> {
    await this.writing;
    if (this.behind.length > 0) await this.writeBehind();
  }

  private writeBehind(): Promise<void> {
    this.writing ??= (async () => {
      for (let task = this.behind[0]; task; task = this.behind[0]) {
        try {
          await task();
        } catch (err) {
          this.warn(`could not write a cache entry to the action cache: ${(err as Error).message}`);
        }
        this.behind.shift();
      }
    })().finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async writeAc(key: string, json: string, id: StepId): Promise<void> {
    const data = encodeAcEntry(json);
    if (!this.reads(id)) {
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
}

/**
 * A small output's bytes, which go into its manifest rather than the cas (INLINE_OUTPUT_LIMIT), or
 * undefined; the digest is then of the bytes read, whatever the size is by then.
 */
function smallContent(abs: string, size: number): Buffer | undefined {
  if (size > INLINE_OUTPUT_LIMIT) return undefined;
  const bytes = readFileSync(abs);
  return bytes.length <= INLINE_OUTPUT_LIMIT ? bytes : undefined;
}
