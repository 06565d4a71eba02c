import { createHash, hash as oneShotHash } from "node:crypto";
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync } from "node:fs";

/**
 * SHA-256 throughout: it is what the Bazel remote-cache protocol addresses blobs by (bazel-remote
 * verifies uploads with it), so our store can be served by unmodified Bazel caches. See
 * docs/caching.md for the measured alternatives.
 */
export const DIGEST_ALGORITHM = "sha256";

export function digestBytes(data: string | Uint8Array): string {
  // crypto.hash (Node >= 20.12) skips the Hash object: about twice as fast for the short texts of keys.
  return oneShotHash(DIGEST_ALGORITHM, data, "hex");
}

/**
 * Files up to this size are read in one go, with synchronous calls: for the small files a build mostly
 * hashes, a handful of syscalls in a row cost far less than as many hand-offs to libuv's thread pool (see
 * stat-cache.ts), and reading blocks no longer than the hashing that follows on this thread. Larger files
 * are streamed so memory stays flat.
 */
export const READ_WHOLE_LIMIT = 8 * 1024 * 1024;

/**
 * Opens a file to hash it without ever blocking this thread: a named pipe opened for reading would wait
 * for a writer (O_NONBLOCK makes that open return at once; on a regular file it changes nothing). Callers
 * check that they got a regular file before reading it synchronously.
 */
export function openToHash(path: string): number {
  return openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
}

/** Reads `size` bytes from the start of an open file (fewer if it shrank meanwhile). */
export function readWholeSync(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return got === size ? buf : buf.subarray(0, got);
}

/** The digest of a file of any size, read with synchronous calls (in 1 MiB pieces beyond the limit). */
export function digestFileSync(path: string): string {
  const fd = openToHash(path);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size <= READ_WHOLE_LIMIT) return digestBytes(readWholeSync(fd, st.size));
    const hash = createHash(DIGEST_ALGORITHM);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
    return hash.digest("hex");
  } finally {
    closeSync(fd);
  }
}

export async function digestFile(path: string): Promise<string> {
  const fd = openToHash(path);
  try {
    const st = fstatSync(fd);
    if (st.size <= READ_WHOLE_LIMIT && st.isFile()) return digestBytes(readWholeSync(fd, st.size));
  } finally {
    closeSync(fd);
  }
  const hash = createHash(DIGEST_ALGORITHM);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
