/**
 * The uploads of a {@link TieredStore}, in the background and a few at a time: blobs first, then the
 * action-cache entry that names them (an entry whose blobs are missing would be a miss for everyone, and
 * would block a good entry under its key). An existing valid remote entry is never replaced; one found
 * invalid (damaged, unsigned, mis-signed) is.
 *
 * What cannot be uploaded — the remote failed, or its circuit is open (see circuit.ts) — is recorded in
 * the pending-uploads list (see pending-uploads.ts) and uploaded from the local cache by a later run:
 * {@link drainPending} at the start of every run with a writable remote, also a no-op one.
 * {@link ensureOnRemote} does the same for entries a run restored locally that the remote was never
 * known to have (built while it was not configured).
 */
import type { PendingUploads } from "../pending-uploads.js";
import { blobsOf as blobsOfManifest, decodeAcEntry, parseManifest } from "../manifest.js";
import type { LocalDirStore } from "../store.js";
import { short, type RemoteStore } from "./remote.js";
import type { AcSigner } from "./signing.js";

/**
 * What the last look at the remote found under an action key: a valid entry (never replaced), an invalid
 * one (damaged, unsigned or mis-signed for our key: replaced by our upload), one signed with another key
 * (refused, but left alone: it may be valid for its signer's readers), nothing.
 */
export type AcState = "valid" | "invalid" | "foreign" | "absent";

export interface UploadCounters {
  uploadedEntries: number;
  uploadedBlobs: number;
}

export interface UploaderContext {
  local: LocalDirStore;
  remote: RemoteStore;
  signer: AcSigner | undefined;
  /** Where what could not be uploaded is recorded; undefined: nowhere (a store used outside a project). */
  pending: PendingUploads | undefined;
  counters: UploadCounters;
  /** Shared with the reads: what the remote is known to have. */
  acState: Map<string, AcState>;
  remoteHas: Set<string>;
  /** Uploads in flight at once. */
  concurrency: number;
  /** Reports a failed upload (once the remote is unreachable, once in all). */
  failed(err: unknown, context: string): void;
}

export class Uploader {
  private readonly blobUploads = new Map<string, Promise<boolean>>();
  private readonly failedBlobs = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly c: UploaderContext) {}

  private get unavailable(): boolean {
    return this.c.remote.circuit?.isOpen === true;
  }

  /** Uploads a blob the local store has (unless the remote is known to have it). */
  blob(digest: string, send: () => Promise<void>): void {
    if (this.c.remoteHas.has(digest) || this.blobUploads.has(digest)) return;
    this.failedBlobs.delete(digest);
    const p = this.track(
      this.slot(async () => {
        try {
          if (this.unavailable) return false;
          await send();
          this.c.remoteHas.add(digest);
          this.c.counters.uploadedBlobs++;
          return true;
        } catch (err) {
          this.c.failed(err, `cannot upload blob ${short(digest)} to ${this.c.remote.location}`);
          return false;
        } finally {
          this.blobUploads.delete(digest);
        }
      }).then((ok) => {
        if (!ok) this.failedBlobs.add(digest);
        return ok;
      }),
    );
    this.blobUploads.set(digest, p);
  }

  /** Uploads an action-cache entry just saved locally, once the blobs it names are up. */
  entry(key: string, entry: Buffer): void {
    const digests = blobsOf(entry).map((b) => b.digest);
    const deps = digests.map((d) => this.blobUploads.get(d)).filter((p) => p !== undefined);
    this.track(
      (async () => {
        const ok = await Promise.all(deps);
        // (A failed blob upload was reported; the entry waits for a later run.)
        if (ok.includes(false) || digests.some((d) => this.failedBlobs.has(d))) return this.record(key);
        await this.slot(async () => {
          if (this.unavailable) return this.record(key);
          try {
            await this.putEntry(key, entry);
          } catch (err) {
            this.c.failed(err, `cannot upload cache entry ${short(key)} to ${this.c.remote.location}`);
            await this.record(key);
          }
        });
      })(),
    );
  }

  /** Uploads, from the local cache, the entries earlier runs could not (see pending-uploads.ts). */
  drainPending(): void {
    const pending = this.c.pending;
    if (!pending) return;
    this.track(
      (async () => {
        for (const key of await pending.list()) this.fromLocal(key);
      })(),
    );
  }

  /** Makes sure the remote has these locally cached entries: a HEAD each, an upload where it has not. */
  ensureOnRemote(keys: Iterable<string>, recorded?: (key: string) => Buffer | undefined): void {
    for (const key of keys) {
      const state = this.c.acState.get(key);
      if (state !== "valid" && state !== "foreign") this.fromLocal(key, recorded);
    }
  }

  /** Waits until every upload started so far has finished (or failed, and was recorded). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * One entry from the local cache (`ac/`, else `recorded`: a project's index, the only record of a
   * project's own directory), its blobs, then the entry, unless the remote has it already.
   */
  private fromLocal(key: string, recorded?: (key: string) => Buffer | undefined): void {
    this.track(
      this.slot(async () => {
        if (this.unavailable) return this.record(key);
        try {
          if (await this.c.remote.has("ac", key)) {
            this.c.acState.set(key, "valid");
            return this.c.pending?.remove(key);
          }
          const entry = (await this.c.local.get("ac", key)) ?? recorded?.(key);
          const blobs = entry ? blobsOf(entry) : [];
          for (const b of blobs) {
            // Evicted from the local cache: the entry cannot be published (nor used) any more.
            if (!(await this.c.local.has("cas", b.digest))) return this.c.pending?.remove(key);
          }
          if (!entry) return this.c.pending?.remove(key);
          for (const b of blobs) {
            if (this.c.remoteHas.has(b.digest)) continue;
            await this.c.remote.uploadFile(this.c.local.blobPath(b.digest), b.digest, b.size);
            this.c.remoteHas.add(b.digest);
          }
          await this.putEntry(key, entry);
          await this.c.pending?.remove(key);
        } catch (err) {
          this.c.failed(err, `cannot upload cache entry ${short(key)} to ${this.c.remote.location}`);
          await this.record(key);
        }
      }),
    );
  }

  private async putEntry(key: string, entry: Buffer): Promise<void> {
    const state = this.c.acState.get(key);
    if (state === "valid" || state === "foreign") return;
    const data = this.c.signer ? this.c.signer.seal(key, entry) : entry;
    await this.c.remote.put("ac", key, data, { mode: state === "invalid" ? "replace" : "create" });
    this.c.acState.set(key, "valid");
    this.c.counters.uploadedEntries++;
  }

  private async record(key: string): Promise<void> {
    await this.c.pending?.add(key);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.c.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** The blobs an action-cache entry names (none when it is not a manifest: uploaded as it is). */
function blobsOf(entry: Buffer): { digest: string; size: number }[] {
  try {
    const d = decodeAcEntry(entry);
    if (!("json" in d)) return [];
    return blobsOfManifest(parseManifest(d.json));
  } catch {
    return [];
  }
}
