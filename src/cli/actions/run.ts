import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkSnapshot, markNoOpRun, type Snapshot, type SnapshotKey } from "../../cache/run-snapshot.js";
import type { RunResult } from "../../engine/result.js";
import { loadReporter, reporterTarget, type ChooseReporterOptions } from "../../reporters/choose.js";
import type { RunFlags } from "../commands/run.js";
import { EXIT } from "../exit-codes.js";
import { resolveFlowFile } from "../flow-file.js";
import { parseInputs, parseJobs } from "../option-values.js";
import { tributaryVersion } from "../version.js";

export async function runCommand(fileArg: string | undefined, flags: RunFlags): Promise<number> {
  const concurrency = parseJobs(flags.jobs);
  const inputs = parseInputs(flags.input);
  const file = resolveFlowFile(fileArg);
  const root = dirname(file);
  const flow = readFileSync(file);
  const stateDir = join(root, ".tributary");
  const useCache = flags.cache !== false;
  const key: SnapshotKey = { flow, inputs, version: tributaryVersion() };

  // Nothing the last complete run depended on changed: every step would be restored. Done.
  // (A trace asks for the run itself: the normal path, in which every step shows as restored.)
  const unchanged =
    useCache && !flags.dryRun && flags.trace === undefined
      ? checkSnapshot(stateDir, root, key, process.env)
      : undefined;
  const choice = { json: flags.json, quiet: flags.quiet, verbose: flags.verbose };
  if (unchanged) {
    markNoOpRun(stateDir);
    return reportNoOp(unchanged, choice, flags);
  }

  // Everything else loads only when there is work to do: the no-op answer must stay cheap.
  const reporter = await loadReporter(choice);
  const { runFlow } = await import("./execute.js");
  const source = flow.toString("utf8");
  return runFlow({ fileArg, file, root, source, stateDir, inputs, concurrency, flags, reporter, key });
}

/** The summary of a run in which every step was restored, told without running the engine. */
async function reportNoOp(s: Snapshot, choice: ChooseReporterOptions, flags: RunFlags): Promise<number> {
  // --quiet says nothing about a run that succeeded (see createQuietReporter): no reporter to load.
  if (reporterTarget(choice).kind !== "quiet") {
    const reporter = await loadReporter(choice);
    reporter.onEvent({ type: "run-end", t: 0, result: noOpResult(s) });
    reporter.close();
  }
  // Outputs are printed unless --json (they are in its run-end event) or --quiet.
  if (flags.json !== true && flags.quiet !== true) {
    const { printOutputs } = await import("../output.js");
    printOutputs(s.outputs, Object.keys(s.outputs), false);
  }
  return EXIT.ok;
}

function noOpResult(s: Snapshot): RunResult {
  const steps = s.steps.map((id) => ({ id, module: "", status: "ok" as const, attempts: 0, cached: true }));
  return {
    ok: true,
    cancelled: false,
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
