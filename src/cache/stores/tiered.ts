/**
 * A local cache directory in front of a remote store (HTTP or a shared directory). Reads try the local
 * directory first, then the remote; what comes from the remote is verified (blobs against their digest,
 * action-cache entries against their header digest, manifest shape and — with a key — their signature)
 * and copied into the local directory, so the next read is local. Writes go to the local directory at
 * once and to the remote in the background (`drain()` waits for them): a slow or dead remote never slows
 * a step down or fails a build; its failures are warnings (and counted, for callers that require it).
 */
import { mkdir } from "node:fs/promises";
import { withTempFile } from "../atomic-write.js";
import { decodeAcEntry, parseManifest } from "../manifest.js";
import type { PendingUploads } from "../pending-uploads.js";
import { LocalDirStore, type BlobStore, type Namespace, type PutOptions } from "../store.js";
import { CacheUnreachableError, short, type RemoteStore, type WarningSink } from "./remote.js";
import { openAcEntry, type AcSigner } from "./signing.js";
import { Uploader, type AcState } from "./uploader.js";

export interface TieredStoreOptions {
  /** Signs uploaded action-cache entries and refuses remote ones it did not sign. */
  signer?: AcSigner;
  /** false: read the remote, never write it (a read-only remote cache). Default true. */
  upload?: boolean;
  /** Uploads in flight at once (default 8). */
  uploadConcurrency?: number;
  /** Where entries that could not be uploaded are recorded for a later run (see pending-uploads.ts). */
  pending?: PendingUploads;
  onWarning?: WarningSink;
}

export interface TieredCounters {
  /** Action-cache entries taken from the remote (verified). */
  remoteEntries: number;
  /** Blobs downloaded from the remote (verified) and their bytes. */
  remoteBlobs: number;
  /** Remote action-cache entries refused: unsigned, mis-signed, damaged. */
  refused: number;
  uploadedEntries: number;
  uploadedBlobs: number;
  /** Remote operations that failed (unreachable, error answers). */
  failures: number;
}

/** The same message is not repeated more often than this. */
const WARN_AGAIN_MS = 60_000;

export class TieredStore implements BlobStore {
  readonly description: string;
  readonly counters: TieredCounters = {
    remoteEntries: 0,
    remoteBlobs: 0,
    refused: 0,
    uploadedEntries: 0,
    uploadedBlobs: 0,
    failures: 0,
  };
  /** Distinct remote failures, in order (what a run that requires the remote reports). */
  readonly failures: string[] = [];
  private readonly signer: AcSigner | undefined;
  private readonly upload: boolean;
  private readonly pending: PendingUploads | undefined;
  private readonly onWarning: WarningSink;
  /** What the last look at the remote found for an action key (decides how an upload may write it). */
  private readonly acState = new Map<string, AcState>();
  /** Action-cache entries this run took from the remote (a hit's `source`). */
  private readonly fetched = new Set<string>();
  /** Blobs known to be on the remote: not uploaded again. */
  private readonly remoteHas = new Set<string>();
  private readonly uploader: Uploader;
  private readonly warned = new Map<string, number>();
  private tmpReady: Promise<unknown> | undefined;

  constructor(
    readonly local: LocalDirStore,
    readonly remote: RemoteStore,
    options: TieredStoreOptions = {},
  ) {
    this.signer = options.signer;
    this.upload = options.upload !== false;
    this.pending = this.upload ? options.pending : undefined;
    this.onWarning = options.onWarning ?? (() => {});
    this.description = `${local.description}, then ${remote.description}`;
    this.uploader = new Uploader({
      local,
      remote,
      signer: this.signer,
      pending: this.pending,
      counters: this.counters,
      acState: this.acState,
      remoteHas: this.remoteHas,
      concurrency: options.uploadConcurrency ?? 8,
      failed: (err, context) => this.failed(err, context),
    });
  }

  fromRemote(key: string): boolean {
    return this.fetched.has(key);
  }

  /** How messages name the remote. */
  get location(): string {
    return this.remote.location;
  }

  async get(ns: Namespace, key: string): Promise<Buffer | undefined> {
    const here = await this.local.get(ns, key);
    if (ns === "cas") {
      if (here) return here;
      const data = await this.tryRemote(() => this.remote.get("cas", key), `blob ${short(key)}`);
      if (!data) return undefined;
      this.counters.remoteBlobs++;
      this.remoteHas.add(key);
      await this.local.put("cas", key, data, { mode: "replace" });
      return data;
    }
    // A damaged local entry is replaced by a good remote one when there is one (else the local cache
    // reports the damage as it always does).
    if (here && "json" in decodeAcEntry(here)) return here;
    // Looked at already this run (absent, refused): not asked (nor refused, nor counted) again.
    const known = this.acState.get(key);
    if (known !== undefined && known !== "valid") return here;
    const data = await this.tryRemote(() => this.remote.get("ac", key), `cache entry ${short(key)}`);
    if (data === null) return here;
    if (data === undefined) {
      this.acState.set(key, "absent");
      return here;
    }
    const entry = this.acceptRemoteEntry(key, data);
    if (typeof entry === "string") {
      this.acState.set(key, entry);
      return here;
    }
    this.acState.set(key, "valid");
    this.fetched.add(key);
    this.counters.remoteEntries++;
    await this.local.put("ac", key, entry, { mode: here ? "replace" : "create" });
    return entry;
  }

  /** The verified entry inside a remote answer, or (with a warning) why it is refused. */
  private acceptRemoteEntry(key: string, data: Buffer): Buffer | "invalid" | "foreign" {
    const refuse = (why: string, state: "invalid" | "foreign" = "invalid") => {
      this.counters.refused++;
      this.warn(`refused cache entry ${short(key)} from ${this.remote.location}: ${why}; running the step`);
      return state;
    };
    const opened = openAcEntry(key, data, this.signer);
    if ("error" in opened) return refuse(opened.error, opened.foreign ? "foreign" : "invalid");
    const decoded = decodeAcEntry(opened.entry);
    if ("error" in decoded) return refuse(decoded.error);
    try {
      parseManifest(decoded.json);
    } catch (err) {
      return refuse(`damaged (${(err as Error).message})`);
    }
    return opened.entry;
  }

  async has(ns: Namespace, key: string): Promise<boolean> {
    if (await this.local.has(ns, key)) return true;
    if (ns === "cas" && this.remoteHas.has(key)) return true;
    const found = await this.tryRemote(() => this.remote.has(ns, key), `${ns} ${short(key)}`);
    if (found && ns === "cas") this.remoteHas.add(key);
    return found === true;
  }

  /**
   * `strict`: a failure of the remote rejects (with its reason) instead of being a warning and a miss —
   * for callers that cannot do without the blob (fetching a remote worker's outputs).
   */
  async getFile(
    digest: string,
    dest: string,
    options: { link?: boolean; strict?: boolean } = {},
  ): Promise<boolean> {
    if (await this.local.getFile(digest, dest, { link: options.link })) return true;
    await (this.tmpReady ??= mkdir(this.local.layout.tmp, { recursive: true }));
    const got = await withTempFile(this.local.tempPath(), async (tmp) => {
      const fetch = () => this.remote.getFile(digest, tmp);
      const fetched = options.strict ? await fetch() : await this.tryRemote(fetch, `blob ${short(digest)}`);
      // Verified by the remote store while it was written: publish it locally, then serve it from there.
      if (fetched) await this.local.adoptBlob(tmp, digest);
      return fetched;
    });
    if (!got) return false;
    this.counters.remoteBlobs++;
    this.remoteHas.add(digest);
    return this.local.getFile(digest, dest, { link: options.link });
  }

  async put(ns: Namespace, key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.local.put(ns, key, data, options);
    if (!this.upload) return;
    if (ns === "cas") this.uploader.blob(key, () => this.remote.put("cas", key, data, { mode: "create" }));
    else this.uploader.entry(key, Buffer.from(data));
  }

  async putFile(path: string): Promise<{ digest: string; size: number }> {
    const r = await this.local.putFile(path);
    if (this.upload) {
      // From the local blob, which nobody writes again (the project's file may change meanwhile).
      this.uploader.blob(r.digest, () =>
        this.remote.uploadFile(this.local.blobPath(r.digest), r.digest, r.size),
      );
    }
    return r;
  }

  /** Only the local copy: the remote is never deleted from (its own eviction manages it). */
  delete(ns: Namespace, key: string): Promise<void> {
    return this.local.delete(ns, key);
  }

  /** Marks entries used locally and on the remote (a shared directory's `gc` is then least-recently-used). */
  async touch(ns: Namespace, keys: string[]): Promise<void> {
    await Promise.all([this.local.touch(ns, keys), this.remote.touch(ns, keys).catch(() => {})]);
  }

  /** Starts uploading what earlier runs could not (see pending-uploads.ts); drain() waits for it. */
  drainPending(): void {
    if (this.upload) this.uploader.drainPending();
  }

  /**
   * Starts making sure the remote has these locally cached entries (restored by a run from the local
   * cache alone): a HEAD each, an upload where it has not. An entry not in `ac/` is asked of
   * `recorded` (the project's index). drain() waits for it.
   */
  ensureOnRemote(keys: Iterable<string>, recorded?: (key: string) => Buffer | undefined): void {
    if (this.upload) this.uploader.ensureOnRemote(keys, recorded);
  }

  /**
   * Whether everything this store was asked to upload is on the remote or recorded as pending (false
   * when an entry could not be recorded, or nothing is recorded: a read-only store).
   */
  get settled(): boolean {
    return this.pending !== undefined && !this.pending.lost;
  }

  /** Waits until every upload started so far has finished (or failed, and was recorded). */
  drain(): Promise<void> {
    return this.uploader.drain();
  }

  /** drain(), then closes the remote's connections. */
  async close(): Promise<void> {
    await this.drain();
    await this.remote.close();
  }

  /**
   * A remote read: its value, or null when the remote failed (reported; the caller goes on with the local
   * store as if the remote had nothing).
   */
  private async tryRemote<T>(fn: () => Promise<T>, what: string): Promise<T | null> {
    // Given up on for this run: not even asked (the reason was told once).
    if (this.remote.circuit?.isOpen) return null;
    try {
      return await fn();
    } catch (err) {
      this.failed(err, `cannot download ${what} from ${this.remote.location}`);
      return null;
    }
  }

  private failed(err: unknown, context: string): void {
    this.counters.failures++;
    const unreachable = err instanceof CacheUnreachableError;
    const later = this.upload ? ": results are kept locally and uploaded by a later run" : "";
    const message = unreachable
      ? `${err.message}; no more calls to it this run${later}`
      : `${context}: ${(err as Error)?.message ?? String(err)}`;
    if (!this.failures.includes(message)) this.failures.push(message);
    const circuit = this.remote.circuit;
    if (unreachable && circuit) {
      // Told once, when the circuit opens (see circuit.ts), not once per call that found it open.
      if (!circuit.isOpen) circuit.failed(err);
      if (circuit.firstReport()) this.onWarning(message);
      return;
    }
    this.warn(message);
  }

  private warn(message: string): void {
    const now = Date.now();
    const last = this.warned.get(message);
    if (last !== undefined && now - last < WARN_AGAIN_MS) return;
    this.warned.set(message, now);
    this.onWarning(message);
  }
}
