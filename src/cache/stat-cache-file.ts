import { readFileSync, type Stats } from "node:fs";
import { endianness } from "node:os";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic-write.js";
import { DIGEST_ALGORITHM } from "../graph/digest.js";
import { trusted, type StatEntry } from "./racy-clean.js";

/**
 * The stat cache on disk. The file is binary and decoded lazily (paths in one UTF-8 block, numbers in a
 * Float64Array, digests as raw bytes), so loading 20,000 entries costs a few milliseconds; it is
 * rewritten (temp file + rename) only when something changed, and guarded by a CRC-32: a damaged file
 * is ignored.
 *
 *     tributary-stat-cache 2 <algorithm> <endianness> <count> <crc32>\n
 *     <u32 LE: byte length of the paths> <paths, "\n"-separated> <zero padding to 8 bytes>
 *     <count × NUMS float64: size, mtime, ctime, ino, dev, rec> <count × 32 bytes: digests>
 */

const MAGIC = "tributary-stat-cache 2";
/** size, mtime, ctime, ino, dev, rec */
const NUMS = 6;
const MAX_ENTRIES = 500_000;

/** The entries of the file as loaded: only trusted entries are ever written, so all of them are. */
export class StoredEntries {
  static readonly none = new StoredEntries([], new Map(), new Float64Array(0), Buffer.alloc(0));

  private constructor(
    readonly paths: string[],
    /** path → index into `nums` (NUMS per entry) and `digests` (32 bytes each). */
    private readonly index: Map<string, number>,
    private readonly nums: Float64Array,
    private readonly digests: Buffer,
  ) {}

  /** Reads the file; none when it is missing, and none with a warning when it is unusable. */
  static read(file: string, warn: (message: string) => void): StoredEntries {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch {
      return StoredEntries.none;
    }
    const nl = buf.indexOf(10);
    const header = buf
      .subarray(0, nl < 0 ? Math.min(buf.length, 200) : nl)
      .toString()
      .split(" ");
    if (
      nl < 0 ||
      header.length !== 6 ||
      `${header[0]} ${header[1]}` !== MAGIC ||
      header[2] !== DIGEST_ALGORITHM ||
      header[3] !== endianness()
    ) {
      warn(`ignoring the stat cache ${file}: unknown format; files will be re-hashed`);
      return StoredEntries.none;
    }
    const body = buf.subarray(nl + 1);
    const count = Number(header[4]);
    if (crc32(body).toString(16) !== header[5] || body.length < 4) {
      warn(`ignoring the stat cache ${file}: it is damaged (checksum mismatch); files will be re-hashed`);
      return StoredEntries.none;
    }
    const pathLen = body.readUInt32LE(0);
    const numsAt = 4 + pathLen + ((8 - ((4 + pathLen) % 8)) % 8);
    const digestsAt = numsAt + count * NUMS * 8;
    if (body.length !== digestsAt + count * 32) {
      warn(`ignoring the stat cache ${file}: it is damaged (wrong length); files will be re-hashed`);
      return StoredEntries.none;
    }
    const paths = count === 0 ? [] : body.toString("utf8", 4, 4 + pathLen).split("\n");
    if (paths.length !== count) {
      warn(`ignoring the stat cache ${file}: it is damaged; files will be re-hashed`);
      return StoredEntries.none;
    }
    // Copy the numbers out (the Buffer's offset need not be 8-aligned).
    const nums = new Float64Array(count * NUMS);
    Buffer.from(nums.buffer).set(body.subarray(numsAt, digestsAt));
    const index = new Map<string, number>();
    for (let i = 0; i < count; i++) index.set(paths[i]!, i);
    return new StoredEntries(paths, index, nums, body.subarray(digestsAt));
  }

  /** The stored digest of a file whose stat now (`st`) is the recorded one; else undefined. */
  known(abs: string, st: Stats): string | undefined {
    const i = this.index.get(abs);
    if (i === undefined) return undefined;
    const n = this.nums;
    const o = i * NUMS;
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
   * Writes (atomically) the trusted ones of `recorded` (the entries of this process, which shadow the
   * stored ones) and then the stored entries not shadowed, up to MAX_ENTRIES in all.
   */
  async write(file: string, recorded: Map<string, StatEntry>): Promise<void> {
    const paths: string[] = [];
    const digestParts: Buffer[] = [];
    const numList: number[] = [];
    for (const [abs, e] of recorded) {
      if (!trusted(e)) continue; // racy: useless next time
      paths.push(abs);
      numList.push(e.size, e.mtime, e.ctime, e.ino, e.dev, e.rec);
      digestParts.push(Buffer.from(e.digest, "hex"));
    }
    for (let i = 0; i < this.paths.length && paths.length < MAX_ENTRIES; i++) {
      const p = this.paths[i]!;
      if (recorded.has(p)) continue;
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
    await writeFileAtomic(file, Buffer.concat([Buffer.from(header), body]), { createDirs: true });
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}
