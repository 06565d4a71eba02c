import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open, readdir, stat, unlink, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { digestBytes, DIGEST_ALGORITHM } from "../graph/digest.js";
import { moveIntoPlace, withTempFile, writeFileAtomic } from "./atomic-write.js";
import { isMissing, syncFsOps, threadPoolFsOps, type FsOps } from "./fs-ops.js";
import { isHex64, Layout } from "./layout.js";
import { isStaleTemp, tempName } from "./temp-name.js";

/** The two namespaces of the Bazel remote-cache protocol: `/ac/<key>` and `/cas/<digest>`. */
export type Namespace = "ac" | "cas";

export interface PutOptions {
  /**
   * `create` (default): write only when there is no entry yet; an existing entry is left alone, so an
   * entry is never overwritten with different content. `replace`: overwrite atomically (to repair a
   * corrupt entry, or for a forced rerun).
   */
  mode?: "create" | "replace";
}

/**
 * Where the cache keeps its bytes. Blobs are immutable and addressed by key (ac) or by the SHA-256 of
 * their content (cas). Implementations must make every write atomic — a reader sees a whole entry or
 * none — and may lose entries at any time (eviction); they need not verify content: the cache verifies
 * what it reads. Implementations: {@link LocalDirStore} here; in `stores/`, a shared directory
 * (`SharedDirStore`), the Bazel HTTP protocol (`HttpStore`: GET/PUT/HEAD `/ac/<key>`, `/cas/<digest>`) and
 * `TieredStore` (a local directory in front of one of those; it verifies what it downloads).
 */
export interface BlobStore {
  readonly description: string;
  get(ns: Namespace, key: string): Promise<Buffer | undefined>;
  has(ns: Namespace, key: string): Promise<boolean>;
  put(ns: Namespace, key: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** Stores a local file's content in the cas, hashing it on the way (one read); returns its digest. */
  putFile(path: string): Promise<{ digest: string; size: number }>;
  /**
   * Writes the cas blob `digest` to `dest`, a new path nobody reads yet (the caller verifies it and
   * renames it into place). `link: true` allows a hard link to the blob (only for read-only files).
   * Resolves false when the blob is absent.
   */
  getFile(digest: string, dest: string, options?: { link?: boolean }): Promise<boolean>;
  delete(ns: Namespace, key: string): Promise<void>;
  /** Records that entries were used (for least-recently-used eviction). Best effort. */
  touch(ns: Namespace, keys: string[]): Promise<void>;
  /** Whether the action-cache entry `key` was downloaded from a remote store in this run. */
  fromRemote?(key: string): boolean;
}

/** Files up to this size are read whole when stored; larger ones are streamed. */
const READ_WHOLE_LIMIT = 8 * 1024 * 1024;

/** A cache in a local (or shared, POSIX) directory. See layout.ts for the tree. */
export class LocalDirStore implements BlobStore {
  readonly layout: Layout;
  readonly description: string;
  /** Synchronous calls on a local disk; the thread pool where a call may block long (see fs-ops.ts). */
  protected readonly io: FsOps;

  constructor(
    readonly dir: string,
    options: { blockingIO?: "sync" | "thread-pool" } = {},
  ) {
    this.layout = new Layout(dir);
    this.description = `directory ${dir}`;
    this.io = options.blockingIO === "thread-pool" ? threadPoolFsOps : syncFsOps;
  }

  protected path(ns: Namespace, key: string): string {
    if (!isHex64(key)) throw new Error(`not a cache key: ${JSON.stringify(key)}`);
    return ns === "ac" ? this.layout.acPath(key) : this.layout.casPath(key);
  }

  async get(ns: Namespace, key: string): Promise<Buffer | undefined> {
    return this.io.readFileIfAny(this.path(ns, key));
  }

  async has(ns: Namespace, key: string): Promise<boolean> {
    return (await this.io.statIfAny(this.path(ns, key))) !== undefined;
  }

  async put(ns: Namespace, key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await writeFileAtomic(this.path(ns, key), data, {
      overwrite: options.mode === "replace",
      mode: ns === "cas" ? 0o444 : 0o644,
      tempDir: this.layout.tmp,
      createDirs: true,
      io: this.io,
    });
  }

  async putFile(path: string): Promise<{ digest: string; size: number }> {
    if ((await this.io.stat(path)).size <= READ_WHOLE_LIMIT) {
      // The digest is of the bytes read, whatever the size is by then.
      const data = await this.io.readFile(path);
      const digest = digestBytes(data);
      if (!(await this.hasBlob(digest, data.length)))
        await this.put("cas", digest, data, { mode: "replace" });
      return { digest, size: data.length };
    }
    // Large: hash while copying into a temp file, then publish it under the digest it turned out to have.
    await this.io.mkdirs(this.layout.tmp);
    return withTempFile(
      this.tempPath(),
      async (tmp) => {
        const hash = createHash(DIGEST_ALGORITHM);
        let written = 0;
        const out = await open(tmp, "wx", 0o444);
        try {
          for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
            const b = chunk as Buffer;
            hash.update(b);
            await out.write(b);
            written += b.length;
          }
        } finally {
          await out.close();
        }
        const digest = hash.digest("hex");
        if (!(await this.hasBlob(digest, written))) {
          await moveIntoPlace(tmp, this.layout.casPath(digest), { createDirs: true, io: this.io });
        }
        return { digest, size: written };
      },
      this.io,
    );
  }

  async getFile(digest: string, dest: string, options: { link?: boolean } = {}): Promise<boolean> {
    const blob = this.path("cas", digest);
    try {
      if (options.link) {
        try {
          await this.io.link(blob, dest);
          return true;
        } catch (err) {
          if (isMissing(err)) throw err;
          // EXDEV, EPERM, EMLINK, no hard links on this file system: copy instead.
        }
      }
      // A reflink where the file system can (btrfs, xfs, APFS): instant and safe to edit; else a copy.
      await this.io.copyFile(blob, dest, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      return true;
    } catch (err) {
      if (isMissing(err) && !(await this.exists(dirname(dest)))) throw err;
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async delete(ns: Namespace, key: string): Promise<void> {
    try {
      await this.io.unlink(this.path(ns, key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  async touch(ns: Namespace, keys: string[]): Promise<void> {
    const now = new Date();
    const batch = 64;
    for (let i = 0; i < keys.length; i += batch) {
      await Promise.all(
        keys.slice(i, i + batch).map((k) => utimes(this.path(ns, k), now, now).catch(() => {})),
      );
    }
  }

  /** Deletes temp files left by dead processes (or older than a day). */
  async sweepTemps(maxAgeMs = 24 * 3600_000): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.layout.tmp);
    } catch {
      return 0;
    }
    const now = Date.now();
    let removed = 0;
    for (const name of names) {
      const p = join(this.layout.tmp, name);
      try {
        const st = await stat(p);
        if (isStaleTemp(name, st.mtimeMs, now, maxAgeMs)) {
          await unlink(p);
          removed++;
        }
      } catch {
        // Gone already, or not ours to remove.
      }
    }
    return removed;
  }

  /** A fresh temp file in the cache's tmp/ directory (same file system as the entries). */
  tempPath(): string {
    return join(this.layout.tmp, tempName());
  }

  /**
   * Publishes a complete temp file (in this store's tmp/, see {@link tempPath}) as the cas blob `digest`.
   * The caller has verified that the file hashes to `digest`. The temp file is gone afterwards.
   */
  async adoptBlob(tmp: string, digest: string): Promise<void> {
    if (!isHex64(digest)) throw new Error(`not a digest: ${JSON.stringify(digest)}`);
    await this.io.chmod(tmp, 0o444);
    await moveIntoPlace(tmp, this.layout.casPath(digest), { createDirs: true, io: this.io });
  }

  /** The file of a cas blob (it may not exist). Blobs are immutable: read it, never write it. */
  blobPath(digest: string): string {
    return this.path("cas", digest);
  }

  protected async hasBlob(digest: string, size: number): Promise<boolean> {
    try {
      // A blob of the wrong size is truncated or corrupt: it is replaced, which repairs it.
      return (await this.io.statIfAny(this.layout.casPath(digest)))?.size === size;
    } catch {
      return false;
    }
  }

  private async exists(p: string): Promise<boolean> {
    try {
      return (await this.io.statIfAny(p)) !== undefined;
    } catch {
      return false;
    }
  }
}
