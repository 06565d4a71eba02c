import { checkSnapshot, markNoOpRun, type Snapshot, type SnapshotKey } from "../cache/run-snapshot.js";
import type { Listener } from "../engine/events.js";
import type { RemoteOnNoOp } from "./cache.js";
import type { ProjectRunResult } from "./run.js";
import { tributaryVersion } from "./version.js";

/**
 * The answer to a run in which nothing the last complete run depended on changed: told from that run's
 * record (run-snapshot.ts), without compiling the flow, opening the cache or starting the engine.
 * Project.run asks it first; so does the CLI's fast answer (cli/fast-answer.ts), which is this module and
 * a few others bundled into one file so that the answer loads almost nothing.
 */

export interface NoOpQuestion {
  stateDir: string;
  root: string;
  key: SnapshotKey;
  env: NodeJS.ProcessEnv;
  listeners: readonly Listener[];
  /** Settles the remote cache when nothing changed; `fullRun` when only a full run can. */
  settleRemote(warn: (message: string) => void): Promise<RemoteOnNoOp>;
  /** Writes the run's record (for `logs`): the flow file relative to the root, and -j. */
  record?: { flow: string | null; concurrency: number };
}

/** The result of the run answered from the record; undefined when the run must take the normal path. */
export async function answerNoOp(q: NoOpQuestion): Promise<ProjectRunResult | undefined> {
  const unchanged = checkSnapshot(q.stateDir, q.root, q.key, q.env);
  if (!unchanged) return undefined;
  const warn = (message: string) => {
    for (const l of q.listeners) l({ type: "warning", t: 0, message });
  };
  // With a writable remote cache, what earlier runs could not upload is uploaded now; results it is not
  // known to have (built without it) need a full run, which checks them.
  const remote = await q.settleRemote(warn);
  if ("fullRun" in remote) return undefined;
  markNoOpRun(q.stateDir);
  const result = noOpResult(unchanged);
  if (remote.summary) result.summary.remoteCache = remote.summary;
  result.remoteProblems = remote.problems;
  result.ok = remote.problems.length === 0;
  for (const l of q.listeners) l({ type: "run-end", t: 0, result });
  if (q.record) {
    const { recordNoOpRun } = await import("./run-record.js");
    try {
      recordNoOpRun(q.stateDir, q.record, result);
    } catch {
      // The run is done and right; only its record (for `logs`) is missing.
    }
  }
  return result;
}

/** What identifies a run of a flow file for the record: the file's bytes, its inputs, Tributary's version. */
export function snapshotKeyOf(source: Buffer, inputs: Record<string, unknown> = {}): SnapshotKey {
  const asText: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) asText[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { flow: source, inputs: asText, version: tributaryVersion() };
}

/** The result of a run in which every step was restored, told without running the engine. */
function noOpResult(s: Snapshot): ProjectRunResult {
  const steps = s.steps.map((id) => ({ id, module: "", status: "ok" as const, attempts: 0, cached: true }));
  return {
    ok: true,
    cancelled: false,
    noOp: true,
    remoteProblems: [],
    declaredOutputs: Object.keys(s.outputs),
    steps,
    outputs: s.outputs,
    summary: {
      total: steps.length,
      ok: 0,
      cached: steps.length,
      failed: 0,
      blocked: 0,
      cancelled: 0,
      wallMs: 0,
      workMs: 0,
      criticalPathMs: 0,
      criticalPath: [],
    },
  };
}
