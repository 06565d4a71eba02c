import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  type Stats,
} from "node:fs";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic-write.js";

/**
 * The per-project index: key → manifest of the entries this project saved or restored, read once at
 * start-up so that a cached step costs a map lookup instead of a file read (what .ninja_log does for
 * ninja). A key missing here is looked up in `ac/`. For a project's own cache directory (the default,
 * `<root>/.tributary/cache`, which no other project writes) the index is the entries' only record and
 * `ac/` receives only what a compaction drops; see docs/caching.md.
 *
 * The file is append-only. Records are written in blocks, each closed by a trailer line with the
 * block's byte length and CRC-32, in one `write` on an O_APPEND descriptor:
 *
 *     P <key> <time ms> <step id> <manifest JSON>          an entry (fields separated by tabs)
 *     U <time ms> <key>,<key>,…                            entries used at that time (for LRU)
 *     C <entries>                                          first record after a compaction
 *     # <block bytes> <crc32 hex>                          trailer
 *
 * A block without a valid trailer (a process killed mid-write, a torn last line, interleaved garbage)
 * is skipped as a whole; blocks after it still count. When the file holds much more than the live
 * entries it is rewritten (temp file + rename) keeping the newest few keys of each step; `gc` rewrites
 * it without the entries it evicts.
 */
export class IndexLog {
  /** key → entry; entries loaded from disk stay raw text (`<t>\t<step id>\t<manifest>`) until used. */
  private readonly entries = new Map<string, IndexEntry | string>();
  private pending: string[] = [];
  private lines = 0;
  /** Blocks whose trailer did not match (corruption): reported. */
  private damaged = 0;
  /** Bytes not in any valid block (a write cut short by a crash): silently skipped, compacted away. */
  private torn = 0;
  /** Entries the file had when it was last compacted (from its `C` record): growth is measured from it. */
  private compactedTo = 0;
  /** The file open for appending, between blocks (see append). */
  private fd: number | undefined;
  /**
   * How far this process knows the file at its name (`knownIno`): the end of the last block it read or
   * wrote with nothing of another process's before it; -1 when it does not (see refresh).
   */
  private known = -1;
  private knownIno: number | undefined;

  private constructor(private readonly file: string) {}

  static load(file: string, warn: (message: string) => void): IndexLog {
    const log = new IndexLog(file);
    let buf: Buffer;
    try {
      const fd = openSync(file, "r");
      try {
        log.knownIno = fstatSync(fd).ino;
        buf = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      return log;
    }
    log.known = log.parse(buf, true);
    if (log.damaged > 0) {
      warn(
        `the cache index ${file} had ${log.damaged} damaged block(s) (an interrupted write?); ignored them`,
      );
    }
    return log;
  }

  /** The indexes of the projects whose state is under `stateRoot` (see Layout), but for `except`'s. */
  static loadAll(stateRoot: string, except?: string): IndexLog[] {
    let names: string[];
    try {
      names = readdirSync(stateRoot);
    } catch {
      return [];
    }
    const found: IndexLog[] = [];
    for (const name of names) {
      const dir = join(stateRoot, name);
      if (dir !== except) found.push(IndexLog.load(join(dir, "index.log"), () => {}));
    }
    return found.filter((index) => index.size > 0);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): IndexEntry | undefined {
    const e = this.entries.get(key);
    if (typeof e !== "string") return e;
    const a = e.indexOf("\t");
    const b = e.indexOf("\t", a + 1);
    const parsed: IndexEntry = { t: Number(e.slice(0, a)), stepId: e.slice(a + 1, b), json: e.slice(b + 1) };
    this.entries.set(key, parsed);
    return parsed;
  }

  /**
   * Records an entry (kept in memory now, written with the next block); false when it cannot be
   * represented here (a tab or newline in it), and only ac/ will have it.
   */
  add(key: string, stepId: string, manifestJson: string, t: number): boolean {
    if (/[\t\n\r]/.test(stepId) || /[\n\r]/.test(manifestJson)) return false;
    this.entries.set(key, { stepId, t, json: manifestJson });
    this.pending.push(`P\t${key}\t${t}\t${stepId}\t${manifestJson}\n`);
    if (this.pending.length >= BLOCK_RECORDS) this.writePending();
    return true;
  }

  /** Records that entries were used at time t. */
  use(keys: string[], t: number): void {
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      for (const k of chunk) {
        const e = this.get(k);
        if (e) e.t = t;
      }
      this.pending.push(`U\t${t}\t${chunk.join(",")}\n`);
    }
    if (this.pending.length >= BLOCK_RECORDS) this.writePending();
  }

  /** Appends the pending records as one block. */
  writePending(): void {
    if (this.pending.length === 0) return;
    const body = this.pending.join("");
    // crc32 of a string is of its UTF-8 bytes, as written.
    const block = Buffer.from(`${body}#\t${Buffer.byteLength(body)}\t${crc32(body).toString(16)}\n`);
    this.lines += this.pending.length;
    this.pending = [];
    this.append(block);
  }

  /**
   * Appends a block to the file at its name. The descriptor is kept from one block to the next (a run
   * appends a block per step it saves) while it is still that file: a compaction, here or in another
   * process, renames a new file over it, and a `clean` deletes it; either leaves it without a link, and
   * the block is written again to the name, opened anew (its directory made). The `fstat` that tells
   * also says whether another process appended since this one last read or wrote (see refresh).
   */
  private append(block: Buffer): void {
    for (;;) {
      const fresh = this.fd === undefined;
      if (fresh) {
        mkdirSync(dirname(this.file), { recursive: true });
        this.fd = openSync(this.file, "a");
      }
      const fd = this.fd!;
      let off = 0;
      let st: Stats | undefined;
      try {
        while (off < block.length) off += writeSync(fd, block, off);
        st = fstatSync(fd);
      } catch (err) {
        if (fresh) throw err;
        // Closed under us: open again.
      }
      if (st && st.nlink > 0) return this.wrote(st, block.length);
      this.close();
      if (fresh) return; // deleted the moment it was made: as if the block had been written before it
    }
  }

  /** Notes a block of `length` bytes written, the file being `st` after it. */
  private wrote(st: Stats, length: number): void {
    if (st.ino !== this.knownIno) {
      // A file this process has not read: made by this block, else another's compaction (unknown).
      this.knownIno = st.ino;
      this.known = st.size === length ? length : -1;
    } else if (this.known >= 0 && st.size === this.known + length) {
      this.known = st.size;
    }
  }

  /**
   * Reads what other processes appended to the file since this one last read or wrote it (a run of the
   * same project beside this one); false when there is nothing new. One `stat` when nothing changed; a
   * block still being written is left for the next call.
   */
  refresh(): boolean {
    const st = statSync(this.file, { throwIfNoEntry: false });
    if (!st || (st.ino === this.knownIno && st.size <= this.known)) return false;
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return false;
    }
    try {
      const now = fstatSync(fd);
      if (now.ino === this.knownIno && this.known >= 0) {
        const buf = Buffer.allocUnsafe(now.size - this.known);
        const got = readSync(fd, buf, 0, buf.length, this.known);
        const read = this.parse(buf.subarray(0, got), false);
        this.known += read;
        return read > 0;
      }
      // A file this process does not know to its end (another process's compaction put it there): read
      // whole. What this process holds stays (valid entries all the same; what it has not written yet is
      // still pending).
      const buf = readFileSync(fd);
      this.lines = 0;
      this.knownIno = now.ino;
      this.known = this.parse(buf, false);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /** Closes the file if it is open (a later block opens it again). */
  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed: nothing to release.
    }
    this.fd = undefined;
  }

  /** Every entry (for gc and stats, which read an index without running anything). */
  *all(): IterableIterator<[string, IndexEntry]> {
    for (const key of this.entries.keys()) yield [key, this.get(key)!];
  }

  /**
   * Rewrites the file, keeping the newest `keepPerStep` keys of each step (and none older than
   * `maxAgeMs`), when it has grown: records superseded, more than `keepPerStep` keys per step of a run
   * that looked up `lookups` steps, or damage. The entries it drops go to `spill` first (an index that is
   * its cache's only record of them writes them to `ac/`, where they are still found, only not for free).
   */
  async compactIfNeeded(
    lookups: number,
    spill?: (dropped: [string, IndexEntry][]) => Promise<void>,
    keepPerStep = 2,
    maxAgeMs = 30 * 24 * 3600_000,
  ): Promise<boolean> {
    this.writePending();
    const superseded = this.lines > 2 * this.entries.size + 2000;
    const tooMany =
      lookups > 0 && this.entries.size > Math.max(keepPerStep * lookups + 1000, 2 * this.compactedTo);
    if (!superseded && !tooMany && this.damaged === 0 && this.torn === 0) return false;
    if (!this.reread()) return false;
    const byStep = new Map<string, [string, IndexEntry][]>();
    for (const kv of this.all()) {
      const list = byStep.get(kv[1].stepId);
      if (list) list.push(kv);
      else byStep.set(kv[1].stepId, [kv]);
    }
    const kept: [string, IndexEntry][] = [];
    const dropped: [string, IndexEntry][] = [];
    const oldest = Date.now() - maxAgeMs;
    for (const list of byStep.values()) {
      list.sort((a, b) => b[1].t - a[1].t);
      list.forEach((kv, i) => (i < keepPerStep && kv[1].t >= oldest ? kept : dropped).push(kv));
    }
    if (spill && dropped.length > 0) await spill(dropped);
    await this.rewrite(kept);
    return true;
  }

  /**
   * Removes entries from the file (`gc` evicting them); false when it held none of them (or is gone).
   * Blocks other processes appended since it was loaded are kept.
   */
  async drop(keys: ReadonlySet<string>): Promise<boolean> {
    if (![...keys].some((key) => this.entries.has(key)) || !this.reread()) return false;
    await this.rewrite([...this.all()].filter(([key]) => !keys.has(key)));
    return true;
  }

  /** Loads the file again from disk (other processes may have appended); false when it is gone. */
  private reread(): boolean {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch {
      return false; // gone (cleaned): nothing to rewrite
    }
    this.entries.clear();
    this.lines = 0;
    this.damaged = 0;
    this.torn = 0;
    this.parse(buf, true);
    return true;
  }

  /** Replaces the file (temp file + rename) with one holding exactly `kept`. */
  private async rewrite(kept: [string, IndexEntry][]): Promise<void> {
    this.entries.clear();
    const records = kept.map(([key, e]) => {
      this.entries.set(key, e);
      return `P\t${key}\t${e.t}\t${e.stepId}\t${e.json}\n`;
    });
    records.unshift(`C\t${kept.length}\n`);
    this.compactedTo = kept.length;
    const blocks: Buffer[] = [];
    for (let i = 0; i < records.length; i += 4096) {
      const body = Buffer.from(records.slice(i, i + 4096).join(""));
      blocks.push(body, Buffer.from(`#\t${body.length}\t${crc32(body).toString(16)}\n`));
    }
    const whole = Buffer.concat(blocks);
    await writeFileAtomic(this.file, whole);
    this.lines = kept.length;
    // This process wrote the file at the name now, whole.
    const st = statSync(this.file, { throwIfNoEntry: false });
    this.knownIno = st?.ino;
    this.known = st?.size === whole.length ? whole.length : -1;
  }

  /**
   * Loads the valid blocks of `buf` (the file from a block's start); returns the bytes up to the end of
   * the last one. `tailIsTorn`: what follows it is a torn write (else it may be a block still being
   * written, and is not counted).
   */
  private parse(buf: Buffer, tailIsTorn: boolean): number {
    let lineStart = 0;
    let accepted = 0; // end of the last valid block: a block may not reach back before it
    while (lineStart < buf.length) {
      const end = buf.indexOf(10, lineStart);
      if (end < 0) break; // torn last line
      if (buf[lineStart] === 35 /* # */) {
        const trailer = buf.subarray(lineStart, end).toString().split("\t");
        const len = Number(trailer[1]);
        const blockStart = lineStart - len;
        if (
          trailer.length === 3 &&
          Number.isInteger(len) &&
          len > 0 &&
          blockStart >= accepted &&
          crc32(buf.subarray(blockStart, lineStart)).toString(16) === trailer[2]
        ) {
          if (blockStart > accepted) this.torn++;
          this.parseBlock(buf.subarray(blockStart, lineStart).toString());
          accepted = end + 1;
        } else {
          this.damaged++;
          accepted = end + 1;
        }
      }
      lineStart = end + 1;
    }
    if (tailIsTorn && accepted < buf.length) this.torn++;
    return accepted;
  }

  private parseBlock(text: string): void {
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      this.lines++;
      if (text.charCodeAt(start) === 80 /* P */ && text.charCodeAt(start + 66) === 9) {
        // P \t <64 hex> \t rest
        this.entries.set(text.slice(start + 2, start + 66), text.slice(start + 67, end));
      } else if (text.charCodeAt(start) === 67 /* C */) {
        this.compactedTo = Number(text.slice(start + 2, end)) || 0;
        this.lines--;
      } else if (text.charCodeAt(start) === 85 /* U */) {
        const b = text.indexOf("\t", start + 2);
        const t = Number(text.slice(start + 2, b));
        for (const key of text.slice(b + 1, end).split(",")) {
          const e = this.get(key);
          if (e && e.t < t) e.t = t;
        }
      }
      start = end + 1;
    }
  }
}

export interface IndexEntry {
  stepId: string;
  /** When the entry was last written or marked used (ms). */
  t: number;
  json: string;
}

const BLOCK_RECORDS = 256;
