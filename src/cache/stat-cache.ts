import { createHash } from "node:crypto";
import { closeSync, fstatSync, statSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  digestBytes,
  DIGEST_ALGORITHM,
  digestFileSync,
  openToHash,
  READ_WHOLE_LIMIT,
  readWholeSync,
} from "../graph/digest.js";
import { INLINE_OUTPUT_LIMIT } from "./manifest.js";
import { ClockProbe, MARGIN, trusted, type Clock, type StatEntry } from "./racy-clean.js";
import { StoredEntries } from "./stat-cache-file.js";

export type { Clock } from "./racy-clean.js";

/** How many small files' bytes recentBytes can answer from: more than run at once on any machine. */
const SMALL_READS_KEPT = 256;

/**
 * Remembers the content digest of files by (device, inode, size, mtime, ctime), so that unchanged files
 * are not read again. It can never hide a content change:
 *
 * - Every part of the stat must match, ctime included. `utimes` can set mtime to anything (a checkout
 *   from 2001, a clock in the future), but not ctime: the kernel sets ctime to "now" on every write,
 *   chmod, rename and utimes.
 * - "Racy clean": an entry is trusted only when the file was last written before a reading of the
 *   file system's clock taken before it was read (see racy-clean.ts). An untrusted ("racy") entry is
 *   hashed again; at flush the racy entries of the run are re-hashed once the clock has moved on, so
 *   that the next run trusts them.
 *
 * The entries are kept in a binary file (stat-cache-file.ts), rewritten at flush only when something
 * changed.
 */
export class StatCache {
  /** Entries recorded in this process (they shadow the loaded ones). */
  private readonly entries = new Map<string, StatEntry>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Paths hashed this run whose entries are not trusted yet (settled at flush). */
  private readonly racy = new Set<string>();
  private dirty = false;
  private readonly probe: ClockProbe;
  /** Files read (hashed) by this object: for tests and benchmarks. */
  hashed = 0;
  /**
   * The bytes of the small files read last (a step's outputs, small enough to go into its manifest),
   * with their stat after the read: saving the entry a moment later takes them instead of reading the
   * file again (see recentBytes). A few, not all: a step whose outputs are not saved leaves its own.
   */
  private readonly smallReads = new Map<string, { st: Stats; bytes: Buffer; digest: string }>();

  private constructor(
    private readonly file: string,
    /** Entries loaded from disk. */
    private readonly stored: StoredEntries,
    warn: (message: string) => void,
  ) {
    this.probe = new ClockProbe(join(dirname(file), "probe"), warn);
  }

  /** Loads the persisted entries (synchronously: it is one small file read at start-up). */
  static load(file: string, warn: (message: string) => void): StatCache {
    return new StatCache(file, StoredEntries.read(file, warn), warn);
  }

  get size(): number {
    let n = this.entries.size;
    for (const p of this.stored.paths) if (!this.entries.has(p)) n++;
    return n;
  }

  /** The content digest of a file, from the cache when its stat proves it unchanged. */
  digest(abs: string): Promise<string> {
    let st: Stats;
    try {
      st = statSync(abs);
    } catch (err) {
      return Promise.reject(err);
    }
    const known = this.known(abs, st);
    if (known !== undefined) {
      this.remember(abs, known);
      return Promise.resolve(known);
    }
    if (st.isDirectory()) return Promise.reject(isDirectoryError(abs));
    return this.hash(abs);
  }

  /**
   * The digest of a file without reading it: the answer {@link digest} gave in this same turn of the
   * event loop (the engine digests a step's input files, then asks for its key: no need to stat them
   * twice), else from its stat. Undefined when the file would have to be read.
   */
  digestSync(abs: string): string | undefined {
    const r = this.recent.get(abs);
    if (r !== undefined) return r;
    const st = statSync(abs, { throwIfNoEntry: false });
    return st ? this.known(abs, st) : undefined;
  }

  /** Digests handed out in the current turn of the event loop (cleared at the next one). */
  private readonly recent = new Map<string, string>();
  private recentTimer: NodeJS.Immediate | undefined;

  private remember(abs: string, digest: string): void {
    this.recent.set(abs, digest);
    this.recentTimer ??= setImmediate(() => {
      this.recent.clear();
      this.recentTimer = undefined;
    });
  }

  /**
   * The digest of a file when the cache can vouch for it without reading it; `st` is its stat now.
   * Undefined: unknown, changed or racy (call {@link digest}).
   */
  known(abs: string, st: Stats): string | undefined {
    const e = this.entries.get(abs);
    if (e !== undefined) {
      if (
        e.mtime === st.mtimeMs &&
        e.ctime === st.ctimeMs &&
        e.size === st.size &&
        e.ino === st.ino &&
        e.dev === st.dev &&
        // trusted(e), written out: this runs for every file of every step.
        e.rec - MARGIN > (e.mtime > e.ctime ? e.mtime : e.ctime)
      ) {
        return e.digest;
      }
      return undefined;
    }
    // Only trusted entries are ever written, so the racy rule held when a stored one was recorded.
    return this.stored.known(abs, st);
  }

  /**
   * Whether the digest this cache holds for a file is of the content the file has now (`st`: its stat
   * now). Trusted entries answer by their stat alone; a racy one (hashed within the clock tick of its
   * last write, so a rewrite in that tick would not show in the stat) by reading the file again. False
   * when the file changed since it was hashed, or was never hashed in this process or an earlier one.
   */
  confirms(abs: string, st: Stats): boolean {
    if (this.known(abs, st) !== undefined) return true;
    const e = this.entries.get(abs);
    if (
      e === undefined ||
      e.mtime !== st.mtimeMs ||
      e.ctime !== st.ctimeMs ||
      e.size !== st.size ||
      e.ino !== st.ino ||
      e.dev !== st.dev
    ) {
      return false;
    }
    try {
      return digestFileSync(abs) === e.digest;
    } catch {
      return false;
    }
  }

  /**
   * Lower bounds of the clocks that will stamp any write starting after this call: the file system's
   * (from the probe) and the wall clock minus two seconds (for files on other devices). Take it
   * before reading a file whose digest you then {@link note}.
   */
  clock(): Clock {
    return this.probe.clock();
  }

  /**
   * Records a digest computed elsewhere (a file just stored or restored). `clock` must have been taken
   * before the content was read; `st` is a stat of the file taken any time after that. (If the file
   * was written after the clock was taken, its mtime or ctime is at least the clock, so the entry is
   * not trusted; if it is written later still, the stat no longer matches.)
   */
  note(abs: string, st: Stats, digest: string, clock: Clock): void {
    if (!st.isFile()) return;
    this.record(abs, st, digest, st.dev === clock.dev ? clock.fs : clock.wall);
  }

  /**
   * The bytes and digest of a small file this object has just read, when `st` (a stat taken now) is the
   * stat the file had after that read; once only. The digest is what the read returned, so a cache
   * entry made from them says what the step's value said.
   */
  recentBytes(abs: string, st: Stats): { bytes: Buffer; digest: string } | undefined {
    const read = this.smallReads.get(abs);
    if (read === undefined) return undefined;
    this.smallReads.delete(abs);
    return sameStats(read.st, st) ? { bytes: read.bytes, digest: read.digest } : undefined;
  }

  private keepSmallRead(abs: string, st: Stats, bytes: Buffer, digest: string): void {
    this.smallReads.delete(abs);
    this.smallReads.set(abs, { st, bytes, digest });
    if (this.smallReads.size > SMALL_READS_KEPT) this.smallReads.delete(this.smallReads.keys().next().value!);
  }

  private hash(abs: string): Promise<string> {
    let p = this.inflight.get(abs);
    if (!p) {
      p = this.hashNow(abs).finally(() => this.inflight.delete(abs));
      this.inflight.set(abs, p);
    }
    return p;
  }

  private async hashNow(abs: string): Promise<string> {
    let digest = "";
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = this.hashSmallNow(abs) ?? (await this.hashLargeNow(abs));
      digest = r.digest;
      if (r.stable) return digest;
      // Written to while being read: read again.
    }
    return digest;
  }

  /**
   * Hashes a file of up to READ_WHOLE_LIMIT bytes with synchronous calls (undefined when it is larger).
   * Why synchronous: a build hashes one or two small files per step, and each call through libuv's thread
   * pool costs a hand-off and a wake-up, tens of microseconds apiece; a dozen of them per step added
   * milliseconds of system time per step (measured on W2). Reading a few megabytes blocks no longer than
   * hashing them, which happens on this thread anyway.
   */
  private hashSmallNow(abs: string): { digest: string; stable: boolean } | undefined {
    let fsClock = this.probe.fsClock();
    const wall = Date.now() - 2000;
    const fd = openToHash(abs);
    try {
      const before = fstatSync(fd);
      if (before.isDirectory()) throw isDirectoryError(abs);
      if (before.size > READ_WHOLE_LIMIT || !before.isFile()) return undefined;
      fsClock = this.probe.freshIfRecent(before, fsClock);
      const bytes = readWholeSync(fd, before.size);
      const digest = digestBytes(bytes);
      this.hashed++;
      const after = fstatSync(fd);
      const stable = this.keepIfUnchanged(abs, before, after, digest, fsClock, wall);
      if (stable && bytes.length <= INLINE_OUTPUT_LIMIT) this.keepSmallRead(abs, after, bytes, digest);
      return { digest, stable };
    } finally {
      closeSync(fd);
    }
  }

  private async hashLargeNow(abs: string): Promise<{ digest: string; stable: boolean }> {
    let fsClock = this.probe.fsClock();
    const wall = Date.now() - 2000;
    const fh = await open(abs, "r");
    try {
      const before = await fh.stat();
      if (before.isDirectory()) throw isDirectoryError(abs);
      fsClock = this.probe.freshIfRecent(before, fsClock);
      const hash = createHash(DIGEST_ALGORITHM);
      for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
        hash.update(chunk as Buffer);
      }
      const digest = hash.digest("hex");
      this.hashed++;
      // A pipe or device: never remembered.
      if (!before.isFile()) return { digest, stable: true };
      return { digest, stable: this.keepIfUnchanged(abs, before, await fh.stat(), digest, fsClock, wall) };
    } finally {
      await fh.close();
    }
  }

  /** Records the digest when the file did not change while it was read; says whether it did not. */
  private keepIfUnchanged(
    abs: string,
    before: Stats,
    after: Stats,
    digest: string,
    fsClock: number,
    wall: number,
  ): boolean {
    if (!sameStats(before, after)) return false;
    this.record(abs, before, digest, before.dev === this.probe.dev ? fsClock : wall);
    this.remember(abs, digest);
    return true;
  }

  private record(abs: string, st: Stats, digest: string, rec: number): void {
    if (abs.includes("\n")) return;
    const e: StatEntry = {
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtime: st.mtimeMs,
      ctime: st.ctimeMs,
      rec,
      digest,
    };
    this.entries.set(abs, e);
    this.dirty = true;
    if (trusted(e)) this.racy.delete(abs);
    else this.racy.add(abs);
  }

  /**
   * Hashes the run's racy files again once the clock has passed their timestamps, so the next run can
   * trust them instead of reading them (at most `maxBytes`, at most `maxWaitMs` of waiting).
   */
  async settle(maxBytes = 256 * 1024 * 1024, maxWaitMs = 50): Promise<void> {
    if (this.racy.size === 0) return;
    let bytes = 0;
    let newest = -Infinity;
    const todo: string[] = [];
    for (const abs of this.racy) {
      const e = this.entries.get(abs);
      if (!e || e.dev !== this.probe.dev) continue;
      if (bytes + e.size > maxBytes) break;
      bytes += e.size;
      newest = Math.max(newest, e.mtime, e.ctime);
      todo.push(abs);
    }
    if (todo.length === 0) return;
    await this.probe.waitPast(newest, maxWaitMs);
    const batch = 32;
    for (let i = 0; i < todo.length; i += batch) {
      await Promise.all(
        todo.slice(i, i + batch).map((abs) =>
          this.hash(abs).catch(() => {
            this.entries.delete(abs);
            this.racy.delete(abs);
          }),
        ),
      );
    }
  }

  /** Writes the trusted entries (atomically) when something changed. */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    await this.stored.write(this.file, this.entries);
    this.dirty = false;
  }

  close(): void {
    if (this.recentTimer) clearImmediate(this.recentTimer);
    this.recentTimer = undefined;
    this.recent.clear();
    this.probe.close();
  }
}

/** The same file, unchanged since the first stat (the racy-clean rule compares these). */
export function sameStats(a: Stats, b: Stats): boolean {
  return (
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs &&
    a.size === b.size &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

function isDirectoryError(abs: string): NodeJS.ErrnoException {
  const err = new Error(`EISDIR: illegal operation on a directory, read '${abs}'`) as NodeJS.ErrnoException;
  err.code = "EISDIR";
  return err;
}
