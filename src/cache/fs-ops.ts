/**
 * The file operations the cache's stores make, in two flavours with one shape: synchronous (the default
 * for a local disk) and through libuv's thread pool (for a shared or network file system, where one call
 * may take long enough to stall the scheduler). Code awaits either: awaiting a plain value costs a
 * microtask, not a thread hand-off.
 *
 * Why synchronous by default: a step's save is a dozen small file operations (write a temp file, link or
 * rename it, stat a blob...). Through the thread pool each one is a hand-off, an eventfd write and a
 * wake-up; on W2 (10,000 steps) that was ~200 futex calls and ~2 ms of system time per step, more than
 * the step's own command. The same calls made directly take microseconds on a local disk.
 */
import {
  chmodSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { chmod, copyFile, link, mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";

type Maybe<T> = T | Promise<T>;

export interface FsOps {
  readFile(path: string): Maybe<Buffer>;
  /** The file's content, or undefined when there is no file (the common answer of a cache lookup). */
  readFileIfAny(path: string): Maybe<Buffer | undefined>;
  stat(path: string): Maybe<Stats>;
  /** {@link stat}, or undefined when there is no file. */
  statIfAny(path: string): Maybe<Stats | undefined>;
  /** Creates `path` (failing with EEXIST when it exists) holding `data`, with permission bits `mode`. */
  writeNew(path: string, data: string | Uint8Array, mode: number): Maybe<void>;
  rename(from: string, to: string): Maybe<void>;
  link(existing: string, path: string): Maybe<void>;
  unlink(path: string): Maybe<void>;
  mkdirs(path: string): Maybe<unknown>;
  copyFile(from: string, to: string, mode: number): Maybe<void>;
  chmod(path: string, mode: number): Maybe<void>;
}

/**
 * `mkdir -p` that cannot hang. Node's `mkdir(p, { recursive: true })` loops forever where mkdir answers
 * ENOENT inside a directory that exists (/proc, /sys: `--cache-dir /proc/x` hung the CLI), so this makes
 * one level at a time from the deepest existing ancestor, and such an answer is an error.
 */
export function makeDirsSync(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: "ENOTDIR" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || p === dirname(p)) throw err;
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** {@link makeDirsSync} through the thread pool. */
export async function makeDirs(path: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if ((await stat(p)).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: "ENOTDIR" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || p === dirname(p)) throw err;
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** Whether an error says the file is not there. */
export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

/**
 * A miss (a clean build looks every step up) found out without an exception: an ENOENT thrown from
 * `readFileSync` costs ~15 µs, a `stat` that may find nothing ~2 µs.
 */
function readFileIfAnySync(p: string): Buffer | undefined {
  if (statSync(p, { throwIfNoEntry: false }) === undefined) return undefined;
  try {
    return readFileSync(p);
  } catch (err) {
    if (isMissing(err)) return undefined; // deleted since
    throw err;
  }
}

/** `promise`'s value, or undefined when it rejects because the file is not there. */
async function unlessMissing<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export const syncFsOps: FsOps = {
  readFile: (p) => readFileSync(p),
  readFileIfAny: readFileIfAnySync,
  stat: (p) => statSync(p),
  statIfAny: (p) => statSync(p, { throwIfNoEntry: false }),
  writeNew: (p, data, mode) => writeFileSync(p, data, { flag: "wx", mode }),
  rename: renameSync,
  link: linkSync,
  unlink: unlinkSync,
  mkdirs: makeDirsSync,
  copyFile: copyFileSync,
  chmod: chmodSync,
};

export const threadPoolFsOps: FsOps = {
  readFile: (p) => readFile(p),
  // One call either way: a check first would be a second trip through the pool.
  readFileIfAny: (p) => unlessMissing(readFile(p)),
  stat: (p) => stat(p),
  statIfAny: (p) => unlessMissing(stat(p)),
  writeNew: (p, data, mode) => writeFile(p, data, { flag: "wx", mode }),
  rename,
  link,
  unlink,
  mkdirs: makeDirs,
  copyFile,
  chmod,
};
