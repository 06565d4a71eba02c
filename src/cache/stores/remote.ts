import type { BlobStore } from "../store.js";
import type { Circuit } from "./circuit.js";

/**
 * A store on another machine (or shared by several): what {@link TieredStore} puts behind the local
 * directory and what workers upload their outputs to. Beyond {@link BlobStore}:
 *
 * - cas reads (`get`, `getFile`) are **verified** against the digest: a blob with other content is a miss
 *   (reported through `onWarning`), never returned, and is replaced by the next upload of that digest;
 * - `put(..., { mode: "create" })` never overwrites an existing entry (checked before writing);
 * - failures to reach the store reject with a {@link CacheUnreachableError}.
 */
export interface RemoteStore extends BlobStore {
  /** How messages name it: "the cache at http://host:8080/x" (no password). */
  readonly location: string;
  /** Uploads a file known to hold the blob `digest` (an immutable local blob) unless the store has it. */
  uploadFile(path: string, digest: string, size: number): Promise<void>;
  /** When the store is given up on (HTTP: a timeout or a refused connection); see circuit.ts. */
  readonly circuit?: Circuit;
  /** Resolves when the store answers; rejects with why not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store cannot be reached (connection refused, timeout, DNS...). */
export class CacheUnreachableError extends Error {
  override name = "CacheUnreachableError";

  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Called for problems worked around (a blob that does not match its digest...). */
export type WarningSink = (message: string) => void;

export function short(digest: string): string {
  return `${digest.slice(0, 12)}…`;
}
