import { createHash, hash as oneShotHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

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

/** Files up to this size are read in one go; larger ones are streamed so memory stays flat. */
const READ_WHOLE_LIMIT = 8 * 1024 * 1024;

export async function digestFile(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    if (size <= READ_WHOLE_LIMIT) {
      return digestBytes(await fh.readFile());
    }
  } finally {
    await fh.close();
  }
  const hash = createHash(DIGEST_ALGORITHM);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
