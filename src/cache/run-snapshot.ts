import { readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Graph, StepId, ValueExpr } from "../graph/ir.js";
import { digestBytes } from "./digest.js";
import { projectOutputs } from "../engine/values.js";

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

const FORMAT = 1;
const FILE = "snapshot.json";
/** A file modified this close to the snapshot may have changed within the same clock tick. */
const RACY_MS = 5;

export interface SnapshotKey {
  /** sha256 of the flow file's text. */
  flowDigest: string;
  /** The --input values as given. */
  inputs: Record<string, string>;
  /** Tributary's version: a new release must not trust an old record. */
  version: string;
}

interface SnapshotFile extends SnapshotKey {
  format: number;
  writtenAt: number;
  /** Declared env vars and their values (null when unset) at the time of the run. */
  env: Record<string, string | null>;
  /** [path, ino, size, mtimeMs, ctimeMs] of every input and output file, paths relative to the root. */
  files: [string, number, number, number, number][];
  steps: StepId[];
  /** The values of the flow's `out` steps. */
  outputs: Record<StepId, unknown>;
}

export interface Snapshot {
  steps: StepId[];
  outputs: Record<StepId, unknown>;
}

export function flowDigest(text: string): string {
  return digestBytes(text);
}

/** The files a snapshot would have to watch, or why this graph cannot have one. */
export function snapshotScope(
  graph: Graph,
  root: string,
): { files: string[]; env: string[] } | { reason: string } {
  const files = new Set<string>();
  const env = new Set<string>();
  for (const step of graph.steps) {
    const a = step.action;
    if (a.kind !== "process") return { reason: `${step.id} is not a command` };
    if (step.options.cache === false) return { reason: `${step.id} is not cached` };
    for (const name of step.options.env ?? []) env.add(name);
    for (const input of step.inputs) {
      const why = literalFiles(input, files);
      if (why) return { reason: `${step.id}: ${why}` };
    }
    try {
      for (const o of projectOutputs(step, root)) files.add(o);
    } catch (err) {
      return { reason: (err as Error).message };
    }
  }
  return { files: [...files], env: [...env] };
}

function literalFiles(e: ValueExpr, out: Set<string>): string | undefined {
  switch (e.kind) {
    case "file":
      if (e.path.kind !== "lit" || typeof e.path.value !== "string") return "a computed file() path";
      out.add(e.path.value);
      return undefined;
    case "glob":
      return "glob() can match new files";
    case "list":
      for (const x of e.items) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    case "record":
      for (const x of Object.values(e.fields)) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    case "concat":
      for (const x of e.parts) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    default:
      return undefined;
  }
}

const NOOP_FILE = "noop-run.json";

/** Removes the record: done before every run that may change anything, so a crash leaves none. */
export function dropSnapshot(stateDir: string): void {
  rmSync(join(stateDir, FILE), { force: true });
  rmSync(join(stateDir, NOOP_FILE), { force: true });
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
    const { steps } = JSON.parse(readFileSync(join(stateDir, FILE), "utf8")) as SnapshotFile;
    return { at, steps };
  } catch {
    return undefined;
  }
}

/** Records a run in which every step succeeded; quietly does nothing if the flow is out of scope. */
export function writeSnapshot(
  stateDir: string,
  root: string,
  key: SnapshotKey,
  graph: Graph,
  outputs: Record<StepId, unknown>,
  env: NodeJS.ProcessEnv,
): boolean {
  const scope = snapshotScope(graph, root);
  if ("reason" in scope) return false;
  const files: SnapshotFile["files"] = [];
  for (const f of scope.files) {
    let st: Stats;
    try {
      st = statSync(resolve(root, f));
    } catch {
      return false;
    }
    files.push([f, st.ino, st.size, st.mtimeMs, st.ctimeMs]);
  }
  const data: SnapshotFile = {
    format: FORMAT,
    ...key,
    writtenAt: Date.now(),
    env: Object.fromEntries(scope.env.map((n) => [n, env[n] ?? null])),
    files,
    steps: graph.steps.map((s) => s.id),
    outputs,
  };
  const path = join(stateDir, FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, path);
  return true;
}

/** The recorded run when nothing it depended on changed; undefined means: take the normal path. */
export function checkSnapshot(
  stateDir: string,
  root: string,
  key: SnapshotKey,
  env: NodeJS.ProcessEnv,
): Snapshot | undefined {
  let data: SnapshotFile;
  try {
    data = JSON.parse(readFileSync(join(stateDir, FILE), "utf8")) as SnapshotFile;
  } catch {
    return undefined;
  }
  if (
    data.format !== FORMAT ||
    data.flowDigest !== key.flowDigest ||
    data.version !== key.version ||
    !sameRecord(data.inputs, key.inputs)
  ) {
    return undefined;
  }
  for (const [name, value] of Object.entries(data.env)) if ((env[name] ?? null) !== value) return undefined;
  const racyFrom = data.writtenAt - RACY_MS;
  const base = root.endsWith("/") ? root : `${root}/`;
  for (const [path, ino, size, mtimeMs, ctimeMs] of data.files) {
    const st = statSync(isAbsolute(path) ? path : base + path, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.ino !== ino || st.size !== size || st.mtimeMs !== mtimeMs || st.ctimeMs !== ctimeMs)
      return undefined;
    if (st.mtimeMs >= racyFrom || st.ctimeMs >= racyFrom) return undefined;
  }
  return { steps: data.steps, outputs: data.outputs };
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
