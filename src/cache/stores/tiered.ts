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
import { LocalDirStore, type BlobStore, type Namespace, type PutOptions } from "../store.js";
import { CacheUnreachableError, short, type RemoteStore, type WarningSink } from "./remote.js";
import { openAcEntry, type AcSigner } from "./signing.js";

export interface TieredStoreOptions {
  /** Signs uploaded action-cache entries and refuses remote ones it did not sign. */
  signer?: AcSigner;
  /** false: read the remote, never write it (a read-only remote cache). Default true. */
  upload?: boolean;
  /** Uploads in flight at once (default 8). */
  uploadConcurrency?: number;
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

/**
 * What the last look at the remote found under an action key: a valid entry (never replaced), an invalid
 * one (damaged, unsigned or mis-signed for our key: replaced by our upload), one signed with another key
 * (refused, but left alone: it may be valid for its signer's readers), nothing.
 */
type AcState = "valid" | "invalid" | "foreign" | "absent";

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
  private readonly maxUploads: number;
  private readonly onWarning: WarningSink;
  /** What the last look at the remote found for an action key (decides how an upload may write it). */
  private readonly acState = new Map<string, AcState>();
  /** Blobs known to be on the remote: not uploaded again. */
  private readonly remoteHas = new Set<string>();
  private readonly blobUploads = new Map<string, Promise<boolean>>();
  private readonly failedBlobs = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly warned = new Map<string, number>();
  private tmpReady: Promise<unknown> | undefined;

  constructor(
    readonly local: LocalDirStore,
    readonly remote: RemoteStore,
    options: TieredStoreOptions = {},
  ) {
    this.signer = options.signer;
    this.upload = options.upload !== false;
    this.maxUploads = options.uploadConcurrency ?? 8;
    this.onWarning = options.onWarning ?? (() => {});
    this.description = `${local.description}, then ${remote.description}`;
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
    if (ns === "cas") this.uploadBlob(key, () => this.remote.put("cas", key, data, { mode: "create" }));
    else this.uploadEntry(key, Buffer.from(data));
  }

  async putFile(path: string): Promise<{ digest: string; size: number }> {
    const r = await this.local.putFile(path);
    if (this.upload) {
      // From the local blob, which nobody writes again (the project's file may change meanwhile).
      this.uploadBlob(r.digest, () =>
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

  /** Waits until every upload started so far has finished (or failed). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** drain(), then closes the remote's connections. */
  async close(): Promise<void> {
    await this.drain();
    await this.remote.close();
  }

  private uploadBlob(digest: string, send: () => Promise<void>): void {
    if (this.remoteHas.has(digest) || this.blobUploads.has(digest)) return;
    this.failedBlobs.delete(digest);
    const p = this.track(
      this.slot(async () => {
        try {
          await send();
          this.remoteHas.add(digest);
          this.counters.uploadedBlobs++;
          return true;
        } catch (err) {
          this.failedBlobs.add(digest);
          this.failed(err, `cannot upload blob ${short(digest)} to ${this.remote.location}`);
          return false;
        } finally {
          this.blobUploads.delete(digest);
        }
      }),
    );
    this.blobUploads.set(digest, p);
  }

  /**
   * Uploads an action-cache entry once the blobs it names are up (an entry whose blobs are missing would
   * be a miss for everyone, and would block a good entry under its key). An existing valid remote entry
   * is never replaced; one found invalid (damaged, unsigned, mis-signed) is.
   */
  private uploadEntry(key: string, entry: Buffer): void {
    let digests: string[] = [];
    try {
      const d = decodeAcEntry(entry);
      if ("json" in d) {
        const m = parseManifest(d.json);
        digests = m.outputs.map((o) => o.digest);
        if (m.valueBlob) digests.push(m.valueBlob.digest);
      }
    } catch {
      // The local cache wrote it; if it is not a manifest, upload it as it is.
    }
    const deps = digests.map((d) => this.blobUploads.get(d)).filter((p) => p !== undefined);
    this.track(
      (async () => {
        const ok = await Promise.all(deps);
        const missing = digests.filter((d) => this.failedBlobs.has(d));
        // (The failed blob upload was reported; the entry is simply not published.)
        if (ok.includes(false) || missing.length > 0) return;
        const state = this.acState.get(key);
        if (state === "valid" || state === "foreign") return;
        const data = this.signer ? this.signer.seal(key, entry) : entry;
        await this.slot(async () => {
          try {
            await this.remote.put("ac", key, data, { mode: state === "invalid" ? "replace" : "create" });
            this.acState.set(key, "valid");
            this.counters.uploadedEntries++;
          } catch (err) {
            this.failed(err, `cannot upload cache entry ${short(key)} to ${this.remote.location}`);
          }
        });
      })(),
    );
  }

  /**
   * A remote read: its value, or null when the remote failed (reported; the caller goes on with the local
   * store as if the remote had nothing).
   */
  private async tryRemote<T>(fn: () => Promise<T>, what: string): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      this.failed(err, `cannot download ${what} from ${this.remote.location}`);
      return null;
    }
  }

  private failed(err: unknown, context: string): void {
    this.counters.failures++;
    const message =
      err instanceof CacheUnreachableError
        ? `${err.message}; going on with the local cache`
        : `${context}: ${(err as Error)?.message ?? String(err)}`;
    if (!this.failures.includes(message)) this.failures.push(message);
    this.warn(message);
  }

  private warn(message: string): void {
    const now = Date.now();
    const last = this.warned.get(message);
    if (last !== undefined && now - last < WARN_AGAIN_MS) return;
    this.warned.set(message, now);
    this.onWarning(message);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.maxUploads) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
