import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { isFileValue } from "../../graph/ir.js";
import { DurationHistory } from "../../engine/history.js";
import { runGraph } from "../../engine/run.js";
import { chooseReporter } from "../../reporters/index.js";
import type { RunFlags } from "../commands/run.js";
import { EXIT } from "../exit-codes.js";
import { loadFlow } from "../load-flow.js";
import { parseInputs, parseJobs } from "../options.js";
import { openProjectCache } from "../project-cache.js";
import { stderrColor } from "./color.js";
import { printPlan } from "./plan.js";

export async function runCommand(fileArg: string | undefined, flags: RunFlags): Promise<number> {
  const concurrency = parseJobs(flags.jobs);
  const inputs = parseInputs(flags.input);
  const flow = await loadFlow(fileArg, inputs, stderrColor());
  if (flow.warnings) process.stderr.write(`${flow.warnings}\n`);
  // Steps see the project root as their working directory, whatever directory the command ran from.
  process.chdir(flow.root);
  const stateDir = join(flow.root, ".tributary");
  mkdirSync(stateDir, { recursive: true });
  const history = await DurationHistory.load(join(stateDir, "history.json"));
  const reporter = chooseReporter({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose });
  const cache = await openProjectCache(flow.root, flags, (message) =>
    reporter.onEvent({ type: "warning", t: 0, message }),
  );
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
    const result = await runGraph(flow.graph, {
      concurrency,
      failFast: flags.failFast,
      mode: flags.schedule,
      root: flow.root,
      cache: cache?.stepCache,
      estimate: history.estimate,
      handleSignals: true,
      // Live output costs the fast job shell; only pay for it when someone reads it as it happens.
      liveOutput: flags.verbose === true || flags.json === true,
      onEvent: reporter.onEvent,
    });
    reporter.close();
    history.record(result.steps);
    await history.save();
    if (!flags.json && !flags.quiet && result.ok && (flow.graph.outputs?.length ?? 0) > 0) {
      process.stdout.write(`${formatOutputs(result.outputs)}\n`);
    }
    if (result.cancelled) return EXIT.interrupted;
    return result.ok ? EXIT.ok : EXIT.stepFailed;
  } finally {
    reporter.close();
    await cache?.close();
  }
}

/** `out` values for the terminal: strings as they are, files as their paths, anything else as JSON. */
function formatOutputs(outputs: Record<string, unknown>): string {
  const entries = Object.entries(outputs);
  const text = (v: unknown) =>
    typeof v === "string" ? v : isFileValue(v) ? v.$file : JSON.stringify(v, null, 2);
  if (entries.length === 1) return text(entries[0]![1]);
  return entries.map(([k, v]) => `${k}: ${text(v)}`).join("\n");
}
