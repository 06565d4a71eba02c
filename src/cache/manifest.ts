import { digestBytes } from "../graph/digest.js";
import { isHex64 } from "./layout.js";

/** An output file of a step as stored: its project-relative path, content digest, size and mode. */
export interface OutputRecord {
  path: string;
  digest: string;
  size: number;
  /** Permission bits (0o777 mask), restored with the file. */
  mode: number;
  /** A small file's content (base64), kept in the manifest instead of a cas blob. */
  inline?: string;
}

/**
 * Output files up to this size are kept in their manifest rather than as blobs: a blob costs a temp
 * file, a link and an unlink when saved, file-system metadata work that dominates a short step's
 * save (stamps, checksums, small text). Kept small: the project's index holds every manifest.
 */
export const INLINE_OUTPUT_LIMIT = 512;

/** The cas blobs a manifest names: what must be stored, uploaded and kept with it. */
export function blobsOf(m: Manifest): { digest: string; size: number }[] {
  const blobs = m.outputs
    .filter((o) => o.inline === undefined)
    .map((o) => ({ digest: o.digest, size: o.size }));
  if (m.valueBlob) blobs.push(m.valueBlob);
  return blobs;
}

/** What the action cache holds for a step key. */
export interface Manifest {
  format: 1;
  /** The step's value (JSON), unless it is undefined or too large to inline (then `valueBlob`). */
  value?: unknown;
  /** The value's JSON text as a cas blob. */
  valueBlob?: { digest: string; size: number };
  outputs: OutputRecord[];
}

/** Values whose JSON is larger than this go to the cas instead of the manifest. */
export const INLINE_VALUE_LIMIT = 16 * 1024;

const AC_MAGIC = "tributary-ac 1";

/** An action-cache entry: a header carrying the SHA-256 of the manifest JSON, then the JSON. */
export function encodeAcEntry(manifestJson: string): Buffer {
  return Buffer.from(`${AC_MAGIC} ${digestBytes(manifestJson)}\n${manifestJson}`);
}

/** The manifest JSON of an action-cache entry, or an error message when it is damaged. */
export function decodeAcEntry(data: Buffer): { json: string } | { error: string } {
  const nl = data.indexOf(10);
  if (nl < 0) return { error: "truncated (no header)" };
  const header = data.subarray(0, nl).toString();
  if (!header.startsWith(`${AC_MAGIC} `)) return { error: "not a tributary action-cache entry" };
  const expected = header.slice(AC_MAGIC.length + 1);
  const body = data.subarray(nl + 1);
  const actual = digestBytes(body);
  if (actual !== expected)
    return { error: `damaged (content digest ${actual.slice(0, 12)}…, expected ${expected.slice(0, 12)}…)` };
  return { json: body.toString() };
}

/** Parses and checks a manifest's shape; throws with a message when it is not one. */
export function parseManifest(json: string): Manifest {
  const m = JSON.parse(json) as Manifest;
  if (typeof m !== "object" || m === null || m.format !== 1 || !Array.isArray(m.outputs)) {
    throw new Error("not a version 1 manifest");
  }
  for (const o of m.outputs) {
    if (
      typeof o !== "object" ||
      o === null ||
      typeof o.path !== "string" ||
      !isHex64(o.digest) ||
      !Number.isInteger(o.size) ||
      !Number.isInteger(o.mode) ||
      (o.inline !== undefined && (typeof o.inline !== "string" || o.size > INLINE_OUTPUT_LIMIT))
    ) {
      throw new Error("malformed output record");
    }
  }
  if (m.valueBlob !== undefined && (typeof m.valueBlob !== "object" || !isHex64(m.valueBlob.digest))) {
    throw new Error("malformed value blob reference");
  }
  return m;
}
