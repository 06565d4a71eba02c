import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../../cache/atomic-write.js";
import { dropSnapshot, writeSnapshot, type SnapshotKey } from "../../cache/run-snapshot.js";
import { snapshotScope } from "../../cache/snapshot-scope.js";
import { DurationHistory } from "../../engine/history.js";
import { runGraph } from "../../project/run-graph.js";
import { ChromeTraceRecorder } from "../../reporters/chrome-trace.js";
import type { Reporter } from "../../reporters/index.js";
import type { RunFlags } from "../commands/run.js";
import { CliError, EXIT } from "../exit-codes.js";
import { loadFlow } from "../load-flow.js";
import { printOutputs } from "../output.js";
import { openProjectCache } from "../project-cache.js";
import { stderrColor } from "./color.js";
import { printPlan } from "./plan.js";

export interface RunRequest {
  fileArg: string | undefined;
  file: string;
  root: string;
  source: string;
  stateDir: string;
  inputs: Record<string, string>;
  concurrency: number | undefined;
  flags: RunFlags;
  reporter: Reporter;
  key: SnapshotKey;
}

/** The normal path of `run`: compile the flow, open the cache, run the graph, record what was learned. */
export async function runFlow(req: RunRequest): Promise<number> {
  const { fileArg, file, root, source, stateDir, inputs, concurrency, flags, reporter, key } = req;
  const flow = await loadFlow(fileArg, inputs, stderrColor(), { file, source });
  if (flow.warnings) process.stderr.write(`${flow.warnings}\n`);
  // Named from where the command ran, before the working directory becomes the project root.
  const traceFile = flags.trace === undefined ? undefined : resolve(flags.trace);
  // Steps see the project root as their working directory, whatever directory the command ran from.
  process.chdir(root);
  mkdirSync(stateDir, { recursive: true });
  const history = await DurationHistory.load(join(stateDir, "history.json"));
  // Warnings after the reporter closed (uploads to a remote cache finishing) still reach the user.
  let reporting = true;
  const warn = (message: string) => {
    if (reporting) reporter.onEvent({ type: "warning", t: 0, message });
    else process.stderr.write(`warning: ${message}\n`);
  };
  const cache = await openProjectCache(root, flags, warn);
  let remote;
  try {
    remote = flags.remote
      ? await (
          await import("../../executors/remote/index.js")
        ).createRedisExecutor({
          url: flags.remote,
          queue: flags.queue,
          projectRoot: root,
          // With a remote cache, workers' output files come through its CAS (no shared directory needed).
          transferOutputs: cache?.transferOutputs,
          onWarning: warn,
        })
      : undefined;
  } catch (err) {
    await cache?.close();
    throw err;
  }
  try {
    if (flags.dryRun) {
      await printPlan(flow, {
        concurrency,
        cache: cache?.stepCache,
        estimate: history.estimate,
        mode: flags.schedule,
      });
      return EXIT.ok;
    }
    dropSnapshot(stateDir);
    const trace = traceFile === undefined ? undefined : new ChromeTraceRecorder();
    // A trace that cannot be written is found out before the run, not after it.
    if (traceFile !== undefined) writeTrace(traceFile, flags.trace!, undefined);
    const result = await runGraph(flow.graph, {
      concurrency,
      failFast: flags.failFast,
      mode: flags.schedule,
      root,
      cache: cache?.stepCache,
      remote,
      estimate: history.estimate,
      handleSignals: true,
      // Live output costs the fast job shell; only pay for it when someone reads it as it happens.
      liveOutput: flags.verbose === true || flags.json === true,
      onEvent: trace ? [reporter.onEvent, (e) => trace.onEvent(e)] : reporter.onEvent,
    });
    reporter.close();
    reporting = false;
    if (trace) writeTrace(traceFile!, flags.trace!, trace);
    if (history.record(result.steps)) await history.save();
    // Taken before anything is stat'ed for the snapshot: a write after it is racy (see run-snapshot.ts).
    const statsFrom = cache && result.ok ? cache.stepCache.writeClock() : 0;
    // Flushes the cache and waits for uploads to a remote cache: the record and the exit code need both.
    await cache?.close();
    const remoteProblems = cache?.remoteProblems() ?? [];
    // A run whose required remote cache failed must not be skipped next time as a no-op.
    if (cache && result.ok && remoteProblems.length === 0) {
      const scope = snapshotScope(flow.graph, root);
      // Flows whose work is not all described by data (see snapshotScope) get no record.
      if (!("reason" in scope)) {
        const outputs = flow.graph.outputs?.length ? result.outputs : {};
        const stepIds = flow.graph.steps.map((s) => s.id);
        const local = cache.stepCache;
        writeSnapshot(stateDir, root, key, scope, stepIds, outputs, process.env, {
          statsFrom,
          confirms: (abs, st) => local.confirmsContent(abs, st),
        });
      }
    }
    printOutputs(
      result.ok ? result.outputs : undefined,
      flow.graph.outputs,
      flags.json === true || flags.quiet === true,
    );
    if (result.cancelled) return EXIT.interrupted;
    if (remoteProblems.length > 0) {
      // --remote-cache-required: the build is not done until its results are on the remote.
      process.stderr.write(
        `the remote cache failed (--remote-cache-required):\n${remoteProblems.map((p) => `  ${p}`).join("\n")}\n`,
      );
      return EXIT.stepFailed;
    }
    return result.ok ? EXIT.ok : EXIT.stepFailed;
  } finally {
    reporter.close();
    await cache?.close();
    await remote?.close();
  }
}

/**
 * Writes the trace file (`undefined`: an empty one, to find out early that it can be written). Atomic:
 * a temp file renamed over it, so a viewer never reads half a trace.
 */
function writeTrace(file: string, asGiven: string, recorder: ChromeTraceRecorder | undefined): void {
  const text = JSON.stringify(recorder ? recorder.trace() : { traceEvents: [], displayTimeUnit: "ms" });
  try {
    writeFileAtomicSync(file, `${text}\n`);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CliError(`--trace: cannot write ${asGiven} (${why})`);
  }
}
