import { UserError } from "../engine/user-error.js";
import type { Dirent } from "node:fs";
import { readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { IndexLog } from "./index-log.js";
import { isHex64, Layout } from "./layout.js";
import { tempName } from "./temp-name.js";
import { readLastRun, type LastRun } from "./run-tally.js";
import { blobsOf, decodeAcEntry, parseManifest } from "./manifest.js";
import { openAcEntry } from "./stores/signing.js";
import { LocalDirStore } from "./store.js";

export interface CacheStats {
  dir: string;
  /** Cached step results: in `ac/` or in a project's index (see IndexLog). */
  entries: number;
  /** Content blobs (output files, large values). */
  blobs: number;
  acBytes: number;
  casBytes: number;
  /** Per-project state (indexes, stat caches, explain data). */
  stateBytes: number;
  /** Leftover temp files (from killed processes; swept on the next open or gc). */
  tempFiles: number;
  totalBytes: number;
  /** Counters of the last run that used the directory (hit rate and so on), when recorded. */
  lastRun?: LastRun;
}

/** Size, entry counts and the last run's hit rate of a cache directory. */
export async function cacheStats(dir: string): Promise<CacheStats> {
  const layout = new Layout(dir);
  const ac = await listFiles(layout.ac);
  const cas = await listCas(layout);
  const state = await treeBytes(layout.stateRoot);
  const tmp = await listFiles(layout.tmp);
  const acBytes = sum(ac.map((f) => f.size));
  const casBytes = sum(cas.map((f) => f.size));
  const keys = new Set(ac.map((f) => f.name));
  for (const index of IndexLog.loadAll(layout.stateRoot)) for (const [key] of index.all()) keys.add(key);
  const s: CacheStats = {
    dir,
    entries: keys.size,
    blobs: cas.length,
    acBytes,
    casBytes,
    stateBytes: state,
    tempFiles: tmp.length,
    totalBytes: acBytes + casBytes + state + sum(tmp.map((f) => f.size)),
  };
  const last = await readLastRun(dir);
  if (last) s.lastRun = last;
  return s;
}

export interface GcOptions {
  /** Evict least-recently-used entries until the store (ac + cas) is at most this big. */
  maxBytes: number;
  /** Blobs that no entry references are kept this long (a writer may be about to reference them). */
  orphanGraceMs?: number;
}

export interface GcResult {
  removedEntries: number;
  removedBlobs: number;
  removedTemps: number;
  freedBytes: number;
  /** ac + cas bytes after the collection. */
  remainingBytes: number;
}

/**
 * Least-recently-used eviction over the entries in `ac/` and in the projects' indexes. An entry's last
 * use is its file's mtime in `ac/` or its time in an index (set when written and refreshed, at most
 * hourly, by runs that hit it). An evicted entry leaves both. Blobs live as long as an entry references them;
 * blobs no entry references (a writer killed between blob and entry) are removed after a grace period.
 * Damaged entries are removed. Safe to run while builds use the cache: at worst a build misses.
 */
export async function gc(dir: string, options: GcOptions): Promise<GcResult> {
  const layout = new Layout(dir);
  const grace = options.orphanGraceMs ?? 10 * 60_000;
  const result: GcResult = {
    removedEntries: 0,
    removedBlobs: 0,
    removedTemps: 0,
    freedBytes: 0,
    remainingBytes: 0,
  };
  result.removedTemps = await new LocalDirStore(dir).sweepTemps(3600_000);

  const entries: GcEntry[] = [];
  const refs = new Map<string, number>();
  for (const f of await listFiles(layout.ac)) {
    const p = join(layout.ac, f.name);
    let blobs: string[] | undefined;
    try {
      // A shared directory behind several machines may hold signed entries: judged by their body here.
      const opened = openAcEntry(f.name, await readFile(p), undefined);
      const d = "entry" in opened ? decodeAcEntry(opened.entry) : opened;
      if ("json" in d) {
        blobs = blobsOf(parseManifest(d.json)).map((b) => b.digest);
      }
    } catch {
      blobs = undefined;
    }
    if (!blobs || !isHex64(f.name)) {
      if (await remove(p)) {
        result.removedEntries++;
        result.freedBytes += f.size;
      }
      continue;
    }
    entries.push({ key: f.name, size: f.size, mtimeMs: f.mtimeMs, blobs, inAc: true });
    for (const b of new Set(blobs)) refs.set(b, (refs.get(b) ?? 0) + 1);
  }
  // The projects' indexes hold entries too, those of a project's own directory nowhere else: one entry
  // per key, used last when either record says.
  const indexes = IndexLog.loadAll(layout.stateRoot);
  const byKey = new Map(entries.map((e) => [e.key, e]));
  for (const index of indexes) {
    for (const [key, e] of index.all()) {
      const known = byKey.get(key);
      if (known) {
        known.mtimeMs = Math.max(known.mtimeMs, e.t);
        continue;
      }
      let blobs: string[];
      try {
        blobs = blobsOf(parseManifest(e.json)).map((b) => b.digest);
      } catch {
        continue; // unreadable: a lookup treats it as a miss, and the next compaction drops it
      }
      const entry: GcEntry = { key, size: Buffer.byteLength(e.json), mtimeMs: e.t, blobs, inAc: false };
      entries.push(entry);
      byKey.set(key, entry);
      for (const b of new Set(blobs)) refs.set(b, (refs.get(b) ?? 0) + 1);
    }
  }

  const blobs = new Map<string, { size: number; mtimeMs: number }>();
  const now = Date.now();
  for (const f of await listCas(layout)) {
    if (!refs.has(f.name) && now - f.mtimeMs > grace) {
      if (await remove(layout.casPath(f.name))) {
        result.removedBlobs++;
        result.freedBytes += f.size;
      }
      continue;
    }
    blobs.set(f.name, { size: f.size, mtimeMs: f.mtimeMs });
  }

  let total = sum(entries.map((e) => e.size)) + sum([...blobs.values()].map((b) => b.size));
  entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
  const evicted = new Set<string>();
  for (const e of entries) {
    if (total <= options.maxBytes) break;
    if (e.inAc && !(await remove(layout.acPath(e.key)))) continue;
    evicted.add(e.key);
    result.removedEntries++;
    result.freedBytes += e.size;
    total -= e.size;
    for (const b of new Set(e.blobs)) {
      const n = (refs.get(b) ?? 1) - 1;
      refs.set(b, n);
      const info = blobs.get(b);
      if (n === 0 && info) {
        blobs.delete(b);
        if (await remove(layout.casPath(b))) {
          result.removedBlobs++;
          result.freedBytes += info.size;
          total -= info.size;
        }
      }
    }
  }
  // An evicted entry is gone from every record of it, so that no index serves what lost its blobs.
  if (evicted.size > 0) for (const index of indexes) await index.drop(evicted);
  result.remainingBytes = total;
  return result;
}

interface GcEntry {
  key: string;
  size: number;
  /** Last use. */
  mtimeMs: number;
  blobs: string[];
  /** Whether `ac/` has it (else only an index does). */
  inAc: boolean;
}

/**
 * Empties a cache directory: entries, blobs, per-project state and temp files. Refuses a directory
 * that is not a tributary cache (no CACHEDIR.TAG written by tributary), so a wrong `--cache-dir`
 * cannot delete anything else. Each part is first renamed away, then deleted, so a build running
 * meanwhile sees either the old part or none.
 */
export async function clean(dir: string): Promise<{ freedBytes: number }> {
  let tag: string;
  try {
    tag = await readFile(join(dir, "CACHEDIR.TAG"), "utf8");
  } catch {
    try {
      await stat(dir);
    } catch {
      return { freedBytes: 0 }; // nothing there
    }
    throw new UserError(
      `${dir} is not a tributary cache directory (it has no CACHEDIR.TAG); not cleaning it`,
    );
  }
  if (!tag.includes("created by tributary")) {
    throw new UserError(
      `${dir} is a cache directory of another tool (see its CACHEDIR.TAG); not cleaning it`,
    );
  }
  const before = await cacheStats(dir);
  for (const name of ["ac", "cas", "state", "tmp", "pending-uploads", "last-run.json"]) {
    const p = join(dir, name);
    const trash = join(dir, `.trash-${tempName()}`);
    try {
      await rename(p, trash);
    } catch {
      continue;
    }
    await rm(trash, { recursive: true, force: true });
  }
  // Leftovers of an interrupted clean.
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f.startsWith(".trash-")) await rm(join(dir, f), { recursive: true, force: true });
  }
  return { freedBytes: before.totalBytes };
}

export { formatSize, parseSize } from "../graph/units.js";

interface FileInfo {
  name: string;
  size: number;
  mtimeMs: number;
}

async function listFiles(dir: string): Promise<FileInfo[]> {
  let names: Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: FileInfo[] = [];
  for (const d of names) {
    if (!d.isFile()) continue;
    try {
      const st = await stat(join(dir, d.name));
      out.push({ name: d.name, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

async function listCas(layout: Layout): Promise<FileInfo[]> {
  let shards: string[];
  try {
    shards = await readdir(layout.cas);
  } catch {
    return [];
  }
  const out: FileInfo[] = [];
  for (const s of shards) out.push(...(await listFiles(join(layout.cas, s))));
  return out;
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  let names: Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const d of names) {
    const p = join(dir, d.name);
    if (d.isDirectory()) total += await treeBytes(p);
    else
      total += await stat(p).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

async function remove(p: string): Promise<boolean> {
  try {
    await unlink(p);
    return true;
  } catch {
    return false;
  }
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
