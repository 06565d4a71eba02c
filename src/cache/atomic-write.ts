/**
 * Every file Tributary writes for someone else to read — cache entries and blobs, state files, restored
 * and downloaded outputs, traces — appears whole or not at all: it is written under a temp name on the
 * same file system, then renamed (or hard-linked) to its name in one step. This module is the one place
 * that does it, with one set of rules:
 *
 * - The temp file goes beside the destination (a hidden `.<tempName>`), or into `tempDir` (the cache's
 *   tmp/, where a sweep removes what dead writers left).
 * - Whatever fails, the temp file is removed, and the error names the destination (`cannot write <path>:
 *   <reason>`), keeping the system error's `code`.
 * - `overwrite: false` never replaces an existing file: the temp file is hard-linked to its name, which
 *   fails when the name exists, so the first writer wins (content-addressed entries, where any second
 *   writer has the same bytes). On NFS a link whose reply was lost is retried by the client and answers
 *   EEXIST: the same outcome, the entry exists.
 *
 * The calls go through {@link FsOps}: synchronous on the cache's hot path (see fs-ops.ts for why), the
 * thread pool elsewhere. Not the `write-file-atomic` package: it cannot keep an existing file, works only
 * beside the destination (no sweepable temp directory), and hooks process signals through signal-exit
 * while a write is pending, under the engine's own SIGINT/SIGTERM handling.
 */
import { renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { threadPoolFsOps, type FsOps } from "./fs-ops.js";
import { tempName } from "./temp-name.js";

export interface AtomicWriteOptions {
  /** false: keep an existing file instead (the first writer wins). Default true. */
  overwrite?: boolean;
  /** Permission bits of the new file, before the umask. Default 0o666. */
  mode?: number;
  /** Directory for the temp file, on the destination's file system. Default: the destination's. */
  tempDir?: string;
  /** Create missing directories (the destination's, and `tempDir`). Default false. */
  createDirs?: boolean;
  /** Default: the thread pool. */
  io?: FsOps;
}

/** Writes `data` to `path` atomically (see the rules above). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const io = options.io ?? threadPoolFsOps;
  const tmp = options.tempDir === undefined ? tempPathBeside(path) : join(options.tempDir, tempName());
  try {
    await inMissingDir(options.createDirs, io, dirname(tmp), () =>
      io.writeNew(tmp, data, options.mode ?? 0o666),
    );
  } catch (err) {
    await removeQuietly(tmp, io);
    throw failure(path, err);
  }
  await moveIntoPlace(tmp, path, options);
}

/** {@link writeFileAtomic} for callers that cannot await; always beside `path`, always overwriting. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o666): void {
  const tmp = tempPathBeside(path);
  try {
    writeFileSync(tmp, data, { flag: "wx", mode });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never written, or renamed away.
    }
    throw failure(path, err);
  }
}

/**
 * Gives `path` the content of `tmp`, a complete file on the same file system (a file on another one is
 * copied beside `path` first). `tmp` is gone afterwards, whatever happened.
 */
export async function moveIntoPlace(
  tmp: string,
  path: string,
  options: Pick<AtomicWriteOptions, "overwrite" | "createDirs" | "io"> = {},
): Promise<void> {
  const io = options.io ?? threadPoolFsOps;
  let moved = false;
  try {
    moved = await inMissingDir(options.createDirs, io, dirname(path), () =>
      options.overwrite === false ? linkUnlessExists(tmp, path, io) : replace(tmp, path, io),
    );
  } catch (err) {
    throw failure(path, err);
  } finally {
    if (!moved) await removeQuietly(tmp, io);
  }
}

/**
 * Runs `fill` with the name of a temp file to produce (download, copy, stream into), typically ending
 * with {@link moveIntoPlace}; the temp file is removed afterwards if it is still there.
 */
export async function withTempFile<T>(
  tmp: string,
  fill: (tmp: string) => Promise<T>,
  io: FsOps = threadPoolFsOps,
): Promise<T> {
  try {
    return await fill(tmp);
  } finally {
    await removeQuietly(tmp, io);
  }
}

/** A fresh temp file name beside `path` (same directory, so the same file system), hidden. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${tempName()}`);
}

/** Renames over `path`; true: `tmp` is gone. */
async function replace(tmp: string, path: string, io: FsOps): Promise<boolean> {
  try {
    await io.rename(tmp, path);
    return true;
  } catch (err) {
    if (codeOf(err) !== "EXDEV") throw err;
  }
  // `tmp` is on another file system (a cache elsewhere than the project): stage a copy beside `path`.
  const near = tempPathBeside(path);
  try {
    await io.copyFile(tmp, near, 0);
    await io.rename(near, path);
  } catch (err) {
    await removeQuietly(near, io);
    throw err;
  }
  return false;
}

/** Links `tmp` to `path` unless `path` exists; true: `tmp` is gone. */
async function linkUnlessExists(tmp: string, path: string, io: FsOps): Promise<boolean> {
  try {
    await io.link(tmp, path);
    return false;
  } catch (err) {
    const code = codeOf(err);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV") throw err;
  }
  // No hard links on this file system: rename, unless an entry appeared meanwhile.
  try {
    await io.stat(path);
    return false;
  } catch {
    await io.rename(tmp, path);
    return true;
  }
}

/** Runs `op`; when it fails for a missing directory and `create` is set, creates `dir` and runs it again. */
async function inMissingDir<T>(
  create: boolean | undefined,
  io: FsOps,
  dir: string,
  op: () => T | Promise<T>,
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (!create || codeOf(err) !== "ENOENT") throw err;
  }
  await io.mkdirs(dir);
  return op();
}

async function removeQuietly(path: string, io: FsOps): Promise<void> {
  try {
    await io.unlink(path);
  } catch {
    // Never written, or renamed away.
  }
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The error of a failed write: names the destination, keeps the system error's code and the cause. */
export class AtomicWriteError extends Error {
  override name = "AtomicWriteError";

  constructor(
    readonly path: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot write ${path}: ${reasonOf(cause)}`, { cause });
  }
}

function failure(path: string, err: unknown): AtomicWriteError {
  return err instanceof AtomicWriteError ? err : new AtomicWriteError(path, codeOf(err), err);
}

/** "ENOSPC: no space left on device", without the syscall and the temp file's name Node appends. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { syscall } = err as NodeJS.ErrnoException;
  const at = syscall === undefined ? -1 : err.message.lastIndexOf(`, ${syscall}`);
  return at > 0 ? err.message.slice(0, at) : err.message;
}
