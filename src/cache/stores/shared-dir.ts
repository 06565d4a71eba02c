/**
 * A cache directory several machines mount (NFS, SMB, a cluster file system): the local directory's
 * layout and atomic writes, as a remote store. Every entry is written to a uniquely named temp file
 * (`tmp/<host>~<pid>~<random>~<n>.tmp`, unique across machines) and published in one step on the same
 * file system: a hard link for action-cache entries (fails with EEXIST when an entry exists: first writer
 * wins, never overwritten) and a rename for blobs (same name, same bytes). Readers see a whole entry or
 * none. On NFS a link whose reply was lost is retried by the client and answers EEXIST: that is the same
 * outcome (the entry exists), so it is taken as success.
 *
 * What differs from the local directory: blobs read from here are verified against their digest before
 * they are handed out (a damaged blob is deleted, reported, and a miss), files are always copied out
 * (never hard-linked into a project on another file system), and temp files of other hosts are left to
 * their own host's sweep (or `tributary cache gc` after a day).
 */
import { constants } from "node:fs";
import { access, copyFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { withTempFile } from "../atomic-write.js";
import { digestBytes, digestFile } from "../../graph/digest.js";
import { LocalDirStore, type Namespace } from "../store.js";
import { short, type RemoteStore, type WarningSink } from "./remote.js";

export class SharedDirStore extends LocalDirStore implements RemoteStore {
  override readonly description: string;
  readonly location: string;
  private ready: Promise<void> | undefined;

  constructor(
    dir: string,
    private readonly options: { onWarning?: WarningSink } = {},
  ) {
    // Calls on a network file system may block long: through the thread pool, never on the main thread.
    super(dir, { blockingIO: "thread-pool" });
    this.description = `shared directory ${dir}`;
    this.location = `the shared cache directory ${dir}`;
  }

  /** Creates the layout (and CACHEDIR.TAG) once. */
  private ensure(): Promise<void> {
    return (this.ready ??= (async () => {
      await Promise.all([this.layout.ac, this.layout.cas, this.layout.tmp].map((d) => this.io.mkdirs(d)));
      await writeFile(join(this.dir, "CACHEDIR.TAG"), CACHEDIR_TAG, { flag: "wx" }).catch(() => {});
      // This host's leftovers only (and anything older than a day): other hosts' pids mean nothing here.
      await this.sweepTemps().catch(() => 0);
    })());
  }

  override async get(ns: Namespace, key: string): Promise<Buffer | undefined> {
    const data = await super.get(ns, key);
    if (data === undefined || ns === "ac") return data;
    const actual = digestBytes(data);
    if (actual === key) return data;
    await this.damaged(key, actual);
    return undefined;
  }

  override async put(ns: Namespace, key: string, data: Uint8Array, options = {}): Promise<void> {
    await this.ensure();
    await super.put(ns, key, data, options);
  }

  override async putFile(path: string): Promise<{ digest: string; size: number }> {
    await this.ensure();
    return super.putFile(path);
  }

  async uploadFile(path: string, digest: string, size: number): Promise<void> {
    if (await this.hasBlob(digest, size)) return;
    await this.ensure();
    await withTempFile(this.tempPath(), async (tmp) => {
      await copyFile(path, tmp, constants.COPYFILE_FICLONE);
      await this.adoptBlob(tmp, digest);
    });
  }

  override async getFile(digest: string, dest: string): Promise<boolean> {
    // Always a copy: a hard link would put the project's file on the shared file system.
    if (!(await super.getFile(digest, dest, { link: false }))) return false;
    const actual = await digestFile(dest);
    if (actual === digest) return true;
    await unlink(dest).catch(() => {});
    await this.damaged(digest, actual);
    return false;
  }

  async ping(): Promise<void> {
    await this.ensure();
    await access(this.dir, constants.R_OK | constants.W_OK | constants.X_OK);
  }

  async close(): Promise<void> {}

  private async damaged(digest: string, actual: string): Promise<void> {
    // Publishing is atomic, so a damaged blob is not one being written: removing it lets the next upload
    // put the right bytes there.
    await this.delete("cas", digest).catch(() => {});
    this.options.onWarning?.(
      `blob ${short(digest)} in ${this.location} does not match its digest (its content hashes to ${short(actual)}): removed, not used`,
    );
  }
}

const CACHEDIR_TAG =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tributary.\n# For information about cache directory tags see https://bford.info/cachedir/\n";
