import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  checkSnapshot,
  flowDigest,
  markNoOpRun,
  type Snapshot,
  type SnapshotKey,
} from "../../cache/run-snapshot.js";
import type { RunResult } from "../../engine/result.js";
import { chooseReporter, type Reporter } from "../../reporters/index.js";
import type { RunFlags } from "../commands/run.js";
import { EXIT } from "../exit-codes.js";
import { resolveFlowFile } from "../flow-file.js";
import { printOutputs } from "../output.js";
import { parseInputs, parseJobs } from "../options.js";
import { tributaryVersion } from "../version.js";

export async function runCommand(fileArg: string | undefined, flags: RunFlags): Promise<number> {
  const concurrency = parseJobs(flags.jobs);
  const inputs = parseInputs(flags.input);
  const file = resolveFlowFile(fileArg);
  const root = dirname(file);
  const source = readFileSync(file, "utf8");
  const stateDir = join(root, ".tributary");
  const reporter = chooseReporter({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose });
  const useCache = flags.cache !== false;
  const key: SnapshotKey = { flowDigest: flowDigest(source), inputs, version: tributaryVersion() };

  // Nothing the last complete run depended on changed: every step would be restored. Done.
  const unchanged = useCache && !flags.dryRun ? checkSnapshot(stateDir, root, key, process.env) : undefined;
  if (unchanged) {
    markNoOpRun(stateDir);
    return reportNoOp(unchanged, reporter, flags);
  }

  // Everything else loads only when there is work to do: the no-op answer must stay cheap.
  const { runFlow } = await import("./execute.js");
  return runFlow({ fileArg, file, root, source, stateDir, inputs, concurrency, flags, reporter, key });
}

/** The summary of a run in which every step was restored, told without running the engine. */
function reportNoOp(s: Snapshot, reporter: Reporter, flags: RunFlags): number {
  const steps = s.steps.map((id) => ({ id, module: "", status: "ok" as const, attempts: 0, cached: true }));
  const result = {
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
  } satisfies RunResult;
  reporter.onEvent({ type: "run-end", t: 0, result });
  reporter.close();
  printOutputs(s.outputs, Object.keys(s.outputs), flags.json === true || flags.quiet === true);
  return EXIT.ok;
}
