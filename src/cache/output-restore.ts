import { chmodSync, mkdirSync, statSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { StepId } from "../graph/ir.js";
import { digestBytes, digestFile } from "../graph/digest.js";
import { writablePathInside } from "../graph/inside-project.js";
import { moveIntoPlace, withTempFile } from "./atomic-write.js";
import type { RichCacheRequest } from "./fingerprint.js";
import { syncFsOps } from "./fs-ops.js";
import { tempName } from "./temp-name.js";
import type { Manifest, OutputRecord } from "./manifest.js";
import type { RunCounters } from "./run-tally.js";
import type { StatCache } from "./stat-cache.js";
import type { BlobStore } from "./store.js";

/**
 * Turns a cache entry back into a step's result: its value, and its output files in the project with
 * the recorded content and mode (left alone where they already are, else copied or linked from the
 * store). A damaged blob is deleted and reported, and the step runs again.
 */
export class OutputRestorer {
  constructor(
    private readonly root: string,
    /** The cache's temp directory, where restored files are staged. */
    private readonly tmp: string,
    private readonly store: BlobStore,
    private readonly stat: StatCache,
    private readonly counters: RunCounters,
    private readonly warn: (message: string) => void,
  ) {}

  /** The value of a manifest with its output files in place, or why not. */
  async materialize(m: Manifest, request: RichCacheRequest): Promise<{ value: unknown } | { why: string }> {
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
    // A symbolic link on the way must not take a restore outside the project: then the step runs (and
    // refuses to write there itself).
    if (writablePathInside(this.root, o.path) === undefined) {
      return `${o.path} would be restored outside the project (a symbolic link on its way leads out)`;
    }
    // Synchronous file calls: see fs-ops.ts for why (a restore is a handful of them per output).
    mkdirSync(dirname(abs), { recursive: true });
    // Hard links share the inode with the cache: only for read-only files (the blob's own mode), so
    // that an in-place edit of the restored file cannot silently change the cached blob.
    const link = o.mode === 0o444;
    mkdirSync(this.tmp, { recursive: true });
    const fill = async (tmp: string): Promise<string | undefined> => {
      let got = true;
      try {
        // A small file is in the manifest itself (manifest.ts INLINE_OUTPUT_LIMIT), else a blob.
        if (o.inline !== undefined) syncFsOps.writeNew(tmp, Buffer.from(o.inline, "base64"), 0o600);
        else got = await this.store.getFile(o.digest, tmp, { link });
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
        if (o.inline === undefined) await this.store.delete("cas", o.digest).catch(() => {});
        return `the blob of ${o.path} was damaged`;
      }
      if (!link || o.inline !== undefined) chmodSync(tmp, o.mode);
      // Across file systems (the cache elsewhere than the project) the copy is staged beside `abs`.
      await moveIntoPlace(tmp, abs, { io: syncFsOps });
      this.stat.note(abs, statSync(abs), d, clock);
      this.counters.restoredFiles++;
      this.counters.restoredBytes += o.size;
      return undefined;
    };
    return withTempFile(join(this.tmp, tempName()), fill, syncFsOps);
  }
}
