import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Script } from "node:vm";
import { writeFileAtomicSync } from "../cache/atomic-write.js";

/**
 * Loads one of the CLI's CommonJS bundles with V8's code cache: parsing and compiling the run bundle
 * (420 kB) is about 15 ms of every start, and the cache also holds the functions the last run compiled
 * lazily. Node 22.1+ has `module.enableCompileCache()` (bin/tributary.js turns it on, for the other
 * files), but Node 20 has nothing, and one way on every version is one way to test.
 *
 * The cache is a file per bundle in a directory of the user's own (`$NODE_COMPILE_CACHE`, else the OS
 * temp dir): the key (the bundle's path, size and mtime, Node's version), the SHA-256 of the data, the
 * data. V8 rejects data made by another V8 or with other flags, but does not check the data's bytes: a
 * damaged file it accepted crashed the process. A missing, foreign, truncated, damaged or rejected file
 * is a miss: the bundle is compiled from source and the file is written anew when the process exits
 * (deleting the entry it replaces, when the bundle was rebuilt or upgraded in place). A
 * directory that another user owns or can write is not used at all: cached code runs as whoever loads
 * it. `NODE_DISABLE_COMPILE_CACHE=1` (Node's own switch) turns it off.
 */
export function requireCompiled(file: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const require = createRequire(file);
  if (env.NODE_DISABLE_COMPILE_CACHE === "1") return require(file);
  const source = readFileSync(file, "utf8");
  const st = statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}\0${process.version}\0${process.arch}\n`;
  const dir = ownCacheDir(env);
  const cacheFile = dir && join(dir, `${basename(file)}-${fnv1a(key)}.v8`);
  const cachedData = cacheFile ? readEntry(cacheFile, key) : undefined;
  // Loaded here, not at the top: the fast answer's bundle holds this module, and `--version` must not
  // pay for node:crypto and node:vm (a tenth of Node's own start-up).
  const { Script: CompiledScript } = process.getBuiltinModule("node:vm");
  const script = new CompiledScript(
    `(function (exports, require, module, __filename, __dirname, __tributaryImport) {${source}\n})`,
    { filename: file, cachedData },
  );
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected === true)) {
    // At exit, so that the functions this run compiled lazily are in it too.
    process.once("exit", () => writeEntry(cacheFile, key, script));
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} as unknown, filename: file, id: file, loaded: false };
  // Code from the cache cannot run import() itself on Node 20 (scripts/bundle-cli.mjs routes the
  // bundle's calls here); this module's own import() resolves from the same directory (dist/cli/).
  const importHere = (specifier: string): Promise<unknown> => import(specifier);
  wrapper.call(module.exports, module.exports, require, module, file, dirname(file), importHere);
  module.loaded = true;
  return module.exports;
}

/** The cache directory, made if missing; undefined when it is not this user's alone. */
function ownCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const base = env.NODE_COMPILE_CACHE || tmpdir();
  const dir = join(base, `tributary-code-cache-${uid}`);
  try {
    // One level at a time, not `recursive`: Node's recursive mkdir spins forever where mkdir answers
    // ENOENT in a directory that exists (/proc, /sys): a start must never hang on its cache.
    for (const d of [base, dir]) {
      try {
        mkdirSync(d, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
      }
    }
    const st = statSync(dir);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cached data, when the file starts with this key and its data has its digest (a truncated,
 * foreign or damaged file does not). Only this user can have written it: the directory is theirs alone.
 */
function readEntry(path: string, key: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    return undefined;
  }
  const head = Buffer.from(key);
  if (data.length <= head.length + DIGEST_BYTES || !data.subarray(0, head.length).equals(head))
    return undefined;
  // V8 checks the data's length, its own version and flags, but (outside debug builds) not its bytes.
  const payload = data.subarray(head.length + DIGEST_BYTES);
  return digestOf(payload).equals(data.subarray(head.length, head.length + DIGEST_BYTES))
    ? payload
    : undefined;
}

function writeEntry(path: string, key: string, script: Script): void {
  try {
    const payload = script.createCachedData();
    writeFileAtomicSync(path, Buffer.concat([Buffer.from(key), digestOf(payload), payload]), 0o600);
  } catch {
    // A full or read-only disk: the next start compiles from source again, as this one did.
    return;
  }
  dropReplaced(path, key);
}

/**
 * Deletes the entries this one replaces: the same bundle file on the same Node, at another size or
 * mtime (a rebuild or an upgrade in place), which no start can use again. Without this, each one stayed
 * (half a megabyte apiece) for as long as the directory did. Entries of other installs or other Node
 * versions are kept: they are still someone's.
 */
function dropReplaced(written: string, key: string): void {
  const [file, , , version, arch] = key.slice(0, -1).split("\0");
  const dir = dirname(written);
  const prefix = `${basename(file!)}-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (!name.startsWith(prefix) || !name.endsWith(".v8") || path === written) continue;
    const other = readKey(path);
    if (other === undefined) continue;
    const [otherFile, , , otherVersion, otherArch] = other.split("\0");
    if (otherFile !== file || otherVersion !== version || otherArch !== arch) continue;
    try {
      rmSync(path, { force: true });
    } catch {
      // Not ours to delete after all (this runs as the process exits: nothing may throw).
    }
  }
}

/** The key at the head of an entry (without its newline), or undefined when it has none. */
function readKey(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = Buffer.alloc(8192);
    const n = readSync(fd, head, 0, head.length, 0);
    const end = head.subarray(0, n).indexOf(10);
    return end < 0 ? undefined : head.toString("utf8", 0, end);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const DIGEST_BYTES = 32;

function digestOf(payload: Uint8Array): Buffer {
  return process.getBuiltinModule("node:crypto").createHash("sha256").update(payload).digest();
}

/** A short name for the key (the key itself is checked at the head of the file). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
