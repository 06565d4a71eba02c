import { readFileSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { StepId } from "../graph/ir.js";
import { writeFileAtomicSync } from "./atomic-write.js";
import type { SnapshotScope } from "./snapshot-scope.js";

/**
 * The null-run fast path, as ninja does it: after a run in which every step succeeded, record what
 * the run depended on — the flow file's content, its inputs, the declared env vars, and the stat of
 * every input and output file. The next run first checks that record: if the flow text is the same
 * and not one of those files changed (by inode, size, mtime and ctime, with git's racy-clean rule),
 * every step would be a cache hit with its outputs already in place, so there is nothing to do —
 * without parsing the flow, hashing a file or asking the cache.
 *
 * Only for flows whose work is fully described by data: process steps with literal file inputs.
 * Flows with TS modules, globs, maps or `cache: false` steps always take the normal path.
 */

/**
 * The record, as a small JSON header followed by binary sections, so that the null run reads 10,000
 * files' stats without parsing a number or building an array per file:
 *
 *     "TRSN" | u32 format | u32 header length | header JSON | padding to 8 |
 *     stats (Float64, STAT_FIELDS per file) | paths | step ids | flow file bytes
 *
 * Paths and step ids are UTF-8, separated by NUL. Numbers are in the machine's byte order: a record
 * read on another architecture does not match, and the run takes the normal path.
 */
const FORMAT = 2;
const FILE = "snapshot.bin";
/** Where format 1 (JSON) lived; removed with the record so it does not linger. */
const LEGACY_FILE = "snapshot.json";
const MAGIC = "TRSN";
/** A file modified this close to its stat may have changed again within the same clock tick. */
const RACY_MS = 5;
/** How long a run waits at its end for its last writes to leave the racy window. */
const MAX_RACY_WAIT_MS = 50;
/** ino, size, mtimeMs, ctimeMs of each file. */
const STAT_FIELDS = 4;
/** Separates paths and step ids in their sections: the one character no path can hold. */
const SEP = "\0";

export interface SnapshotKey {
  /** The flow file's bytes: compared whole, cheaper than loading node:crypto to compare digests. */
  flow: Buffer;
  /** The --input values as given. */
  inputs: Record<string, string>;
  /** Tributary's version: a new release must not trust an old record. */
  version: string;
}

interface Header {
  version: string;
  inputs: Record<string, string>;
  /** Declared env vars and their values (null when unset) at the time of the run. */
  env: Record<string, string | null>;
  /**
   * When the stats were taken (just before, so that the racy rule covers the whole stat loop, which
   * takes a while for thousands of files).
   */
  statsFrom: number;
  /** The values of the flow's `out` steps. */
  outputs: Record<StepId, unknown>;
  /** Byte lengths of the sections after the stats. */
  pathBytes: number;
  stepBytes: number;
  flowBytes: number;
  files: number;
}

interface SnapshotRecord {
  header: Header;
  /** [ino, size, mtimeMs, ctimeMs] of every input and output file, one after the other. */
  stats: Float64Array;
  /** Paths relative to the root (or absolute), NUL-separated. */
  paths: string;
  /** Step ids, NUL-separated. */
  steps: string;
  flow: Buffer;
}

export interface Snapshot {
  steps: StepId[];
  outputs: Record<StepId, unknown>;
}

/**
 * What only the run's cache knows: a lower bound of the file system's clock taken before the run ended
 * (`statsFrom`: any file written after it counts as racy), and whether a file still holds the content
 * the run hashed (`confirms`, given its absolute path and current stat).
 */
export interface SnapshotGuard {
  statsFrom: number;
  confirms(abs: string, st: Stats): boolean;
  /** The clock statsFrom was read from: lets the record be retaken when a file is racy (see writeSnapshot). */
  clock?(): number;
}

const NOOP_FILE = "noop-run.json";

/** Removes the record: done before every run that may change anything, so a crash leaves none. */
export function dropSnapshot(stateDir: string): void {
  for (const f of [FILE, LEGACY_FILE, NOOP_FILE]) rmSync(join(stateDir, f), { force: true });
}

/** Notes that the last run was answered by the snapshot, for `explain`: every step was unchanged. */
export function markNoOpRun(stateDir: string): void {
  try {
    writeFileSync(join(stateDir, NOOP_FILE), JSON.stringify({ at: new Date().toISOString() }));
  } catch {
    // Only explain's wording depends on it.
  }
}

/** When the last run was a no-op answered by the snapshot, its time and steps. */
export function lastNoOpRun(stateDir: string): { at: string; steps: StepId[] } | undefined {
  try {
    const { at } = JSON.parse(readFileSync(join(stateDir, NOOP_FILE), "utf8")) as { at: string };
    const record = readRecord(stateDir);
    return record && { at, steps: splitList(record.steps) };
  } catch {
    return undefined;
  }
}

/**
 * Records a run in which every step succeeded, watching the files of `scope` (from snapshotScope); false
 * when one of them cannot be read.
 */
export function writeSnapshot(
  stateDir: string,
  root: string,
  key: SnapshotKey,
  scope: SnapshotScope,
  stepIds: readonly StepId[],
  outputs: Record<StepId, unknown>,
  env: NodeJS.ProcessEnv,
  guard: SnapshotGuard,
): boolean {
  let { statsFrom } = guard;
  const dirs = scope.dirs ?? [];
  const paths = [...scope.files, ...dirs];
  let stats = statAll(root, scope.files, dirs, guard.confirms);
  if (!stats) return false;
  // A file written just before statsFrom is racy, and checkSnapshot would never trust it: every later run
  // would take the normal path until something changed. Once the clock is past the window (a few ms
  // away; not for a file stamped in the future), its stat can be trusted: read the clock, stat again.
  const lastWrite = latestChange(stats);
  if (guard.clock && lastWrite >= statsFrom - RACY_MS && lastWrite - guard.clock() < MAX_RACY_WAIT_MS) {
    const clock = guard.clock;
    sleepUntil(() => clock() > lastWrite + RACY_MS);
    statsFrom = clock();
    stats = statAll(root, scope.files, dirs, guard.confirms);
    if (!stats) return false;
  }
  const pathText = paths.join(SEP);
  const steps = stepIds.join(SEP);
  const header: Header = {
    version: key.version,
    inputs: key.inputs,
    env: Object.fromEntries(scope.env.map((n) => [n, env[n] ?? null])),
    statsFrom,
    outputs,
    pathBytes: Buffer.byteLength(pathText),
    stepBytes: Buffer.byteLength(steps),
    flowBytes: key.flow.byteLength,
    files: paths.length,
  };
  writeFileAtomicSync(
    join(stateDir, FILE),
    encodeRecord({ header, stats, paths: pathText, steps, flow: key.flow }),
  );
  return true;
}

/**
 * The stats of `files`, then `dirs`, as the record keeps them; undefined if one cannot be read, or a file
 * has content other than the cache hashed (it changed during the run, after its step read it). A
 * directory's stat changes when an entry is added, removed or renamed: what a glob would see.
 */
function statAll(
  root: string,
  files: readonly string[],
  dirs: readonly string[],
  confirms: SnapshotGuard["confirms"],
): Float64Array | undefined {
  const stats = new Float64Array((files.length + dirs.length) * STAT_FIELDS);
  for (let i = 0; i < files.length + dirs.length; i++) {
    const isFile = i < files.length;
    const abs = resolve(root, isFile ? files[i]! : dirs[i - files.length]!);
    let st: Stats;
    try {
      st = statSync(abs);
    } catch {
      return undefined;
    }
    if (isFile && !confirms(abs, st)) return undefined;
    stats.set([st.ino, st.size, st.mtimeMs, st.ctimeMs], i * STAT_FIELDS);
  }
  return stats;
}

/** The latest mtime or ctime among recorded stats. */
function latestChange(stats: Float64Array): number {
  let latest = -Infinity;
  for (let i = 0; i < stats.length; i += STAT_FIELDS) latest = Math.max(latest, stats[i + 2]!, stats[i + 3]!);
  return latest;
}

/** Blocks (a few milliseconds at most, as the clock goes) until `done`. */
function sleepUntil(done: () => boolean): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; tries < MAX_RACY_WAIT_MS && !done(); tries++) Atomics.wait(cell, 0, 0, 1);
}

/** The recorded run when nothing it depended on changed; undefined means: take the normal path. */
export function checkSnapshot(
  stateDir: string,
  root: string,
  key: SnapshotKey,
  env: NodeJS.ProcessEnv,
): Snapshot | undefined {
  const record = readRecord(stateDir);
  if (!record || !sameKey(record, key)) return undefined;
  const { header } = record;
  for (const [name, value] of Object.entries(header.env)) if ((env[name] ?? null) !== value) return undefined;
  if (!filesUnchanged(record, root, header.statsFrom - RACY_MS)) return undefined;
  return { steps: splitList(record.steps), outputs: header.outputs };
}

function sameKey(record: SnapshotRecord, key: SnapshotKey): boolean {
  return (
    record.header.version === key.version &&
    sameValues(record.header.inputs, key.inputs) &&
    record.flow.equals(key.flow)
  );
}

/**
 * Whether every recorded file still has its recorded inode, size, mtime and ctime, with none of them
 * modified at or after `racyFrom`: such a file may have changed again within the same clock tick
 * without its stat showing it (git's racy-clean rule).
 */
function filesUnchanged(record: SnapshotRecord, root: string, racyFrom: number): boolean {
  const { stats } = record;
  // Paths relative to the working directory when it is the root: the kernel walks fewer components.
  const base = root === process.cwd() ? "" : root.endsWith("/") ? root : `${root}/`;
  let i = 0;
  for (const path of splitList(record.paths)) {
    const st = statSync(base === "" || isAbsolute(path) ? path : base + path, { throwIfNoEntry: false });
    if (!st) return false;
    if (
      st.ino !== stats[i] ||
      st.size !== stats[i + 1] ||
      st.mtimeMs !== stats[i + 2] ||
      st.ctimeMs !== stats[i + 3] ||
      st.mtimeMs >= racyFrom ||
      st.ctimeMs >= racyFrom
    ) {
      return false;
    }
    i += STAT_FIELDS;
  }
  return i === stats.length;
}

function splitList(text: string): string[] {
  return text === "" ? [] : text.split(SEP);
}

function sameValues(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** The record on disk, or undefined when there is none or it is not one this version can read. */
function readRecord(stateDir: string): SnapshotRecord | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(join(stateDir, FILE));
  } catch {
    return undefined;
  }
  try {
    return decodeRecord(buf);
  } catch {
    return undefined;
  }
}

function encodeRecord(r: SnapshotRecord): Buffer {
  const header = Buffer.from(JSON.stringify(r.header));
  const statsAt = align8(12 + header.length);
  const parts = [
    Buffer.from(MAGIC, "latin1"),
    u32(FORMAT),
    u32(header.length),
    header,
    Buffer.alloc(statsAt - 12 - header.length),
    Buffer.from(r.stats.buffer, r.stats.byteOffset, r.stats.byteLength),
    Buffer.from(r.paths),
    Buffer.from(r.steps),
    r.flow,
  ];
  return Buffer.concat(parts);
}

/** Undefined for a record of another format; throws on one that is cut short or malformed. */
function decodeRecord(buf: Buffer): SnapshotRecord | undefined {
  if (buf.toString("latin1", 0, 4) !== MAGIC || buf.readUInt32LE(4) !== FORMAT) return undefined;
  const headerEnd = 12 + buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString("utf8", 12, headerEnd)) as Header;
  const statsAt = align8(headerEnd);
  const pathsAt = statsAt + header.files * STAT_FIELDS * 8;
  const stepsAt = pathsAt + header.pathBytes;
  const flowAt = stepsAt + header.stepBytes;
  if (flowAt + header.flowBytes !== buf.length) return undefined;
  // Copied out: a Float64Array needs an 8-aligned offset, which the read buffer does not promise.
  const stats = new Float64Array(header.files * STAT_FIELDS);
  new Uint8Array(stats.buffer).set(buf.subarray(statsAt, pathsAt));
  return {
    header,
    stats,
    paths: buf.toString("utf8", pathsAt, stepsAt),
    steps: buf.toString("utf8", stepsAt, flowAt),
    flow: buf.subarray(flowAt),
  };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
