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

type Maybe<T> = T | Promise<T>;

export interface FsOps {
  readFile(path: string): Maybe<Buffer>;
  stat(path: string): Maybe<Stats>;
  /** Creates `path` (failing with EEXIST when it exists) holding `data`, with permission bits `mode`. */
  writeNew(path: string, data: string | Uint8Array, mode: number): Maybe<void>;
  rename(from: string, to: string): Maybe<void>;
  link(existing: string, path: string): Maybe<void>;
  unlink(path: string): Maybe<void>;
  mkdirs(path: string): Maybe<unknown>;
  copyFile(from: string, to: string, mode: number): Maybe<void>;
  chmod(path: string, mode: number): Maybe<void>;
}

export const syncFsOps: FsOps = {
  readFile: (p) => readFileSync(p),
  stat: (p) => statSync(p),
  writeNew: (p, data, mode) => writeFileSync(p, data, { flag: "wx", mode }),
  rename: renameSync,
  link: linkSync,
  unlink: unlinkSync,
  mkdirs: (p) => mkdirSync(p, { recursive: true }),
  copyFile: copyFileSync,
  chmod: chmodSync,
};

export const threadPoolFsOps: FsOps = {
  readFile: (p) => readFile(p),
  stat: (p) => stat(p),
  writeNew: (p, data, mode) => writeFile(p, data, { flag: "wx", mode }),
  rename,
  link,
  unlink,
  mkdirs: (p) => mkdir(p, { recursive: true }),
  copyFile,
  chmod,
};
