import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { digestBytes } from "../graph/digest.js";

/**
 * Where things live in a cache directory:
 *
 *     <dir>/CACHEDIR.TAG          marks the directory as a cache for backup tools
 *     <dir>/ac/<key>              action cache: step key → result manifest (see store.ts)
 *     <dir>/cas/<2 hex>/<digest>  content-addressed blobs: output files and large step values
 *     <dir>/tmp/                  temp files of atomic writes; leftovers of killed processes are swept
 *     <dir>/last-run.json         hit/miss counts of the last run that used the directory
 *     <dir>/pending-uploads/      per remote cache, entries still to upload to it (pending-uploads.ts)
 *     <dir>/state/<project>/      per-project state (one directory per host + project root):
 *         index.log               compact key → manifest log, loaded once per run (like .ninja_log)
 *         stat-cache              (inode, size, mtime, ctime) → digest of files seen
 *         steps.jsonl             per step: last key, previous key, outcome (for explain)
 *         fingerprints.log        key → fingerprint components (for explain)
 *         run.json                counters of the project's last run
 *         probe                   a one-byte file written to read the file system's clock
 *         remote-synced           remote caches the project's results are known to be on
 */
export const DEFAULT_CACHE_SUBDIR = join(".tributary", "cache");

export function defaultCacheDir(root: string): string {
  return join(resolve(root), DEFAULT_CACHE_SUBDIR);
}

/**
 * The cache directory for a run: `--cache-dir` (relative to the working directory), else
 * `TRIBUTARY_CACHE_DIR` (same), else the config file's setting (relative to the project root), else
 * `<root>/.tributary/cache`.
 */
export function resolveCacheDir(
  root: string,
  options: { flag?: string; env?: NodeJS.ProcessEnv; config?: string; cwd?: string } = {},
): string {
  const cwd = options.cwd ?? process.cwd();
  if (options.flag) return resolve(cwd, options.flag);
  const fromEnv = (options.env ?? process.env).TRIBUTARY_CACHE_DIR;
  if (fromEnv) return resolve(cwd, fromEnv);
  if (options.config) return resolve(root, options.config);
  return defaultCacheDir(root);
}

/** Identifies a project in a possibly shared cache directory: its root, on this host. */
export function projectId(root: string): string {
  return digestBytes(`${hostname()}\0${resolve(root)}`).slice(0, 20);
}

export class Layout {
  readonly ac: string;
  readonly cas: string;
  readonly tmp: string;
  readonly stateRoot: string;
  readonly pendingUploads: string;

  constructor(readonly dir: string) {
    this.ac = join(dir, "ac");
    this.cas = join(dir, "cas");
    this.tmp = join(dir, "tmp");
    this.stateRoot = join(dir, "state");
    this.pendingUploads = join(dir, "pending-uploads");
  }

  acPath(key: string): string {
    return join(this.ac, key);
  }

  casPath(digest: string): string {
    return join(this.cas, digest.slice(0, 2), digest);
  }

  state(root: string): string {
    return join(this.stateRoot, projectId(root));
  }

  get lastRun(): string {
    return join(this.dir, "last-run.json");
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Keys and digests are 64 lowercase hex digits: checked before they become file names. */
export function isHex64(s: string): boolean {
  return HEX64.test(s);
}
