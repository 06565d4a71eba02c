import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
  type Stats,
} from "node:fs";
import { open } from "node:fs/promises";
import { endianness } from "node:os";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic-write.js";
import {
  DIGEST_ALGORITHM,
  digestFileSync,
  openToHash,
  READ_WHOLE_LIMIT,
  readWholeSync,
} from "../graph/digest.js";

/**
 * Remembers the content digest of files by (device, inode, size, mtime, ctime), so that unchanged files
 * are not read again. It can never hide a content change:
 *
 * - Every part of the stat must match, ctime included. `utimes` can set mtime to anything (a checkout
 *   from 2001, a clock in the future), but not ctime: the kernel sets ctime to "now" on every write,
 *   chmod, rename and utimes.
 * - "Racy clean" (git's term): timestamps have a granularity (a clock tick), so a file rewritten with
 *   the same size within the tick of its previous write keeps the very same stat. An entry is
 *   therefore trusted only when the file's mtime and ctime are strictly older than a timestamp of the
 *   same file system's clock taken *before* the file was read (the probe: a one-byte write to a file
 *   next to this cache, then fstat). Any later write to the file gets a timestamp at least that of the
 *   probe, so it cannot reproduce the recorded stat. An untrusted ("racy") entry is hashed again; at
 *   flush the racy entries of the run are re-hashed once the clock has moved on, so that the next run
 *   trusts them.
 * - Files on another device than the probe use the wall clock minus two seconds instead (a coarse but
 *   safe stand-in for file systems with 1–2 s timestamps or a slightly different clock).
 *
 * Timestamps are Node's millisecond floats; they resolve ~0.25 µs, and every comparison against the
 * probe keeps a 1 µs margin, so rounding cannot turn "same tick" into "older".
 *
 * The file is binary and decoded lazily (paths in one UTF-8 block, numbers in a Float64Array, digests
 * as raw bytes), so loading 20,000 entries costs a few milliseconds; it is rewritten (temp file +
 * rename) at flush only when something changed, and guarded by a CRC-32: a damaged file is ignored.
 */
export class StatCache {
  /** Entries loaded from disk: path → index into `nums` (NUMS per entry) and `digests` (32 bytes each). */
  private baseIndex = new Map<string, number>();
  private basePaths: string[] = [];
  private nums = new Float64Array(0);
  private digests: Buffer = Buffer.alloc(0);
  /** Entries recorded in this process (they shadow the loaded ones). */
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Paths hashed this run whose entries are not trusted yet (settled at flush). */
  private readonly racy = new Set<string>();
  private dirty = false;
  private probeFd: number | undefined;
  private probeDev = -1;
  private probeValue = -Infinity;
  private probeAt = -Infinity;
  private probeFailed = false;
  /** Files read (hashed) by this object: for tests and benchmarks. */
  hashed = 0;

  private constructor(
    private readonly file: string,
    private readonly probePath: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Loads the persisted entries (synchronously: it is one small file read at start-up). */
  static load(file: string, warn: (message: string) => void): StatCache {
    const sc = new StatCache(file, join(dirname(file), "probe"), warn);
    sc.read();
    return sc;
  }

  get size(): number {
    let n = this.entries.size;
    for (const p of this.basePaths) if (!this.entries.has(p)) n++;
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
        e.rec - MARGIN > (e.mtime > e.ctime ? e.mtime : e.ctime)
      ) {
        return e.digest;
      }
      return undefined;
    }
    const i = this.baseIndex.get(abs);
    if (i === undefined) return undefined;
    const n = this.nums;
    const o = i * NUMS;
    // Only trusted entries are ever written, so the racy rule held when this one was recorded.
    if (
      n[o + 1] === st.mtimeMs &&
      n[o + 2] === st.ctimeMs &&
      n[o] === st.size &&
      n[o + 3] === st.ino &&
      n[o + 4] === st.dev
    ) {
      return this.digests.toString("hex", i * 32, i * 32 + 32);
    }
    return undefined;
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
    return { fs: this.probeFsClock(true), dev: this.probeDev, wall: Date.now() - 2000 };
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
   * The file system clock now (or up to 1 ms ago: a probe taken earlier is still a valid lower bound,
   * only more conservative), unless `fresh`.
   */
  private probeFsClock(fresh = false): number {
    if (this.probeFailed) return -Infinity;
    const now = performance.now();
    if (!fresh && now - this.probeAt < 1) return this.probeValue;
    try {
      if (this.probeFd === undefined) {
        mkdirSync(dirname(this.probePath), { recursive: true });
        this.probeFd = openSync(this.probePath, "w");
        // With multigrain timestamps (Linux 6.13+), a file whose times were looked at gets a
        // fine-grained stamp on its next write: look once, so that even the first probe is exact.
        fstatSync(this.probeFd);
      }
      writeSync(this.probeFd, PROBE_BYTE, 0, 1, 0);
      const st = fstatSync(this.probeFd);
      this.probeDev = st.dev;
      this.probeValue = st.mtimeMs;
      this.probeAt = now;
    } catch (err) {
      if (this.probeFd === undefined) {
        this.warn(
          `cannot write the clock probe ${this.probePath}: ${(err as Error).message}; using the wall clock`,
        );
        this.probeFailed = true;
        this.probeDev = -1;
        return -Infinity;
      }
    }
    return this.probeValue;
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
    let fsClock = this.probeFsClock();
    const wall = Date.now() - 2000;
    const fd = openToHash(abs);
    try {
      const before = fstatSync(fd);
      if (before.isDirectory()) throw isDirectoryError(abs);
      if (before.size > READ_WHOLE_LIMIT || !before.isFile()) return undefined;
      fsClock = this.freshProbeIfRecent(before, fsClock);
      const digest = createHash(DIGEST_ALGORITHM).update(readWholeSync(fd, before.size)).digest("hex");
      this.hashed++;
      return { digest, stable: this.keepIfUnchanged(abs, before, fstatSync(fd), digest, fsClock, wall) };
    } finally {
      closeSync(fd);
    }
  }

  private async hashLargeNow(abs: string): Promise<{ digest: string; stable: boolean }> {
    let fsClock = this.probeFsClock();
    const wall = Date.now() - 2000;
    const fh = await open(abs, "r");
    try {
      const before = await fh.stat();
      if (before.isDirectory()) throw isDirectoryError(abs);
      fsClock = this.freshProbeIfRecent(before, fsClock);
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

  /**
   * A file written after the (reused) probe: probe again before reading, or its entry would be racy for
   * no reason (a step's output, hashed right after it was written).
   */
  private freshProbeIfRecent(before: Stats, fsClock: number): number {
    return before.dev === this.probeDev && Math.max(before.mtimeMs, before.ctimeMs) >= fsClock - MARGIN
      ? this.probeFsClock(true)
      : fsClock;
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
    this.record(abs, before, digest, before.dev === this.probeDev ? fsClock : wall);
    this.remember(abs, digest);
    return true;
  }

  private record(abs: string, st: Stats, digest: string, rec: number): void {
    if (abs.includes("\n")) return;
    const e: Entry = {
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
      if (!e || e.dev !== this.probeDev) continue;
      if (bytes + e.size > maxBytes) break;
      bytes += e.size;
      newest = Math.max(newest, e.mtime, e.ctime);
      todo.push(abs);
    }
    if (todo.length === 0) return;
    const deadline = performance.now() + maxWaitMs;
    this.probeAt = -Infinity;
    while (this.probeFsClock() - MARGIN <= newest && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
      this.probeAt = -Infinity;
    }
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
    const paths: string[] = [];
    const digestParts: Buffer[] = [];
    const numList: number[] = [];
    for (const [abs, e] of this.entries) {
      if (!trusted(e)) continue; // racy: useless next time
      paths.push(abs);
      numList.push(e.size, e.mtime, e.ctime, e.ino, e.dev, e.rec);
      digestParts.push(Buffer.from(e.digest, "hex"));
    }
    for (let i = 0; i < this.basePaths.length && paths.length < MAX_ENTRIES; i++) {
      const p = this.basePaths[i]!;
      if (this.entries.has(p)) continue;
      paths.push(p);
      for (let k = 0; k < NUMS; k++) numList.push(this.nums[i * NUMS + k]!);
      digestParts.push(this.digests.subarray(i * 32, i * 32 + 32));
    }
    const count = Math.min(paths.length, MAX_ENTRIES);
    const pathBytes = Buffer.from(paths.slice(0, count).join("\n"));
    const pad = (8 - ((4 + pathBytes.length) % 8)) % 8;
    const nums = Float64Array.from(numList.slice(0, count * NUMS));
    const body = Buffer.concat([
      u32(pathBytes.length),
      pathBytes,
      Buffer.alloc(pad),
      Buffer.from(nums.buffer, nums.byteOffset, nums.byteLength),
      ...digestParts.slice(0, count),
    ]);
    const header = `${MAGIC} ${DIGEST_ALGORITHM} ${endianness()} ${count} ${crc32(body).toString(16)}\n`;
    await writeFileAtomic(this.file, Buffer.concat([Buffer.from(header), body]), { createDirs: true });
    this.dirty = false;
  }

  close(): void {
    if (this.recentTimer) clearImmediate(this.recentTimer);
    this.recentTimer = undefined;
    this.recent.clear();
    if (this.probeFd !== undefined) closeSync(this.probeFd);
    this.probeFd = undefined;
  }

  private read(): void {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch {
      return;
    }
    const nl = buf.indexOf(10);
    const header = buf
      .subarray(0, nl < 0 ? Math.min(buf.length, 200) : nl)
      .toString()
      .split(" ");
    // tributary-stat-cache 2 <algorithm> <endianness> <count> <crc32>
    if (
      nl < 0 ||
      header.length !== 6 ||
      `${header[0]} ${header[1]}` !== MAGIC ||
      header[2] !== DIGEST_ALGORITHM ||
      header[3] !== endianness()
    ) {
      this.warn(`ignoring the stat cache ${this.file}: unknown format; files will be re-hashed`);
      return;
    }
    const body = buf.subarray(nl + 1);
    const count = Number(header[4]);
    if (crc32(body).toString(16) !== header[5] || body.length < 4) {
      this.warn(
        `ignoring the stat cache ${this.file}: it is damaged (checksum mismatch); files will be re-hashed`,
      );
      return;
    }
    const pathLen = body.readUInt32LE(0);
    const numsAt = 4 + pathLen + ((8 - ((4 + pathLen) % 8)) % 8);
    const digestsAt = numsAt + count * NUMS * 8;
    if (body.length !== digestsAt + count * 32) {
      this.warn(
        `ignoring the stat cache ${this.file}: it is damaged (wrong length); files will be re-hashed`,
      );
      return;
    }
    const paths = count === 0 ? [] : body.toString("utf8", 4, 4 + pathLen).split("\n");
    if (paths.length !== count) {
      this.warn(`ignoring the stat cache ${this.file}: it is damaged; files will be re-hashed`);
      return;
    }
    // Copy the numbers out (the Buffer's offset need not be 8-aligned).
    const nums = new Float64Array(count * NUMS);
    Buffer.from(nums.buffer).set(body.subarray(numsAt, digestsAt));
    this.nums = nums;
    this.digests = body.subarray(digestsAt);
    this.basePaths = paths;
    const index = new Map<string, number>();
    for (let i = 0; i < count; i++) index.set(paths[i]!, i);
    this.baseIndex = index;
  }
}

export interface Clock {
  fs: number;
  dev: number;
  wall: number;
}

interface Entry {
  dev: number;
  ino: number;
  size: number;
  mtime: number;
  ctime: number;
  /** The probe taken before the file was read. */
  rec: number;
  digest: string;
}

const MAGIC = "tributary-stat-cache 2";
/** size, mtime, ctime, ino, dev, rec */
const NUMS = 6;
const MARGIN = 0.001; // 1 µs, in milliseconds
const MAX_ENTRIES = 500_000;
const PROBE_BYTE = Buffer.from("p");

function trusted(e: Entry): boolean {
  return e.rec - MARGIN > Math.max(e.mtime, e.ctime);
}

function sameStats(a: Stats, b: Stats): boolean {
  return (
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs &&
    a.size === b.size &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

function isDirectoryError(abs: string): NodeJS.ErrnoException {
  const err = new Error(`EISDIR: illegal operation on a directory, read '${abs}'`) as NodeJS.ErrnoException;
  err.code = "EISDIR";
  return err;
}
