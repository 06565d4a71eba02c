/**
 * What a remote cache may lack, kept in the local cache directory so that a later run uploads it. The one
 * module that reads and writes these files:
 *
 *     <dir>/pending-uploads/<remote>/<key>   one small file per action-cache entry whose upload to that
 *                                            remote failed or was skipped (the remote was unreachable);
 *                                            removed once the entry is on the remote
 *     <dir>/state/<project>/remote-synced    the remotes this project's results are known to be on (or
 *                                            pending for), one id per line
 *
 * `<remote>` is a digest of where the remote is (its URL without password, or its directory). Each
 * file is written atomically, so a crash loses at most the entry being recorded. The list is bounded
 * ({@link MAX_PENDING} per remote): when it is full, the project's `remote-synced` record is dropped
 * instead, and the next run with that remote checks every result its flow uses (a HEAD each).
 *
 * The rule for results built without the remote (none configured, read-only, or another one): a run that
 * saves entries without uploading them to a remote drops that remote from `remote-synced`; a run with a
 * writable remote that is not in it checks each result its flow restored locally and uploads what the
 * remote lacks, then adds it.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { digestBytes } from "../graph/digest.js";
import { writeFileAtomic } from "./atomic-write.js";
import { isHex64, Layout } from "./layout.js";

/** Entries recorded per remote at most. */
export const MAX_PENDING = 10_000;

/** Names a remote in file names: a digest of its location (no password in it). */
export function remoteId(location: string): string {
  return digestBytes(`tributary-remote\0${location}`).slice(0, 16);
}

/** The list of entries waiting for upload to one remote. */
export class PendingUploads {
  readonly dir: string;
  private readonly tmp: string;
  private count: number | undefined;
  /** An entry could not be recorded (the list was full, or the write failed). */
  lost = false;

  constructor(cacheDir: string, location: string) {
    const layout = new Layout(cacheDir);
    this.dir = join(layout.pendingUploads, remoteId(location));
    this.tmp = layout.tmp;
  }

  /** The keys recorded (none when the list does not exist). */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      names = [];
    }
    const keys = names.filter(isHex64);
    this.count = keys.length;
    return keys;
  }

  /** Records `key`; false when it could not be (full, or the write failed: see {@link lost}). */
  async add(key: string): Promise<boolean> {
    if (!isHex64(key)) return false;
    this.count ??= (await this.list()).length;
    if (this.count >= MAX_PENDING) {
      this.lost = true;
      return false;
    }
    try {
      await writeFileAtomic(join(this.dir, key), "", { tempDir: this.tmp, createDirs: true });
      this.count++;
      return true;
    } catch {
      this.lost = true;
      return false;
    }
  }

  /** The entry is on the remote now (or gone from the local cache): forgets it. */
  async remove(key: string): Promise<void> {
    try {
      await unlink(join(this.dir, key));
      if (this.count !== undefined) this.count--;
    } catch {
      // Removed by another run meanwhile.
    }
  }
}

/** True when the cache directory has any pending upload for the remote (one directory read). */
export function hasPendingUploads(cacheDir: string, location: string): boolean {
  try {
    return readdirSync(new PendingUploads(cacheDir, location).dir).some(isHex64);
  } catch {
    return false;
  }
}

function syncedFile(projectState: string): string {
  return join(projectState, "remote-synced");
}

/** Whether the project's results are known to be on the remote (or recorded as pending for it). */
export function isSynced(projectState: string, location: string): boolean {
  return readSynced(projectState).includes(remoteId(location));
}

function readSynced(projectState: string): string[] {
  try {
    return readFileSync(syncedFile(projectState), "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * After a run: `saved` whether it saved entries; `remote` the writable remote it uploaded to (if any) and
 * whether everything of the run is now on it or pending for it (`synced`). With no remote and nothing
 * saved, it touches no file.
 */
export async function settleSynced(
  projectState: string,
  run: { saved: boolean; remote?: { location: string; synced: boolean } },
): Promise<void> {
  if (!run.remote) {
    if (run.saved) rmSync(syncedFile(projectState), { force: true });
    return;
  }
  const id = remoteId(run.remote.location);
  const before = readSynced(projectState);
  // Entries saved without reaching the other remotes: they are no longer known to be there.
  let after = run.saved ? before.filter((r) => r === id) : before;
  after = run.remote.synced ? [...new Set([...after, id])] : after.filter((r) => r !== id);
  if (after.join("\n") === before.join("\n")) return;
  if (after.length === 0) rmSync(syncedFile(projectState), { force: true });
  else await writeFileAtomic(syncedFile(projectState), `${after.join("\n")}\n`, { createDirs: true });
}
