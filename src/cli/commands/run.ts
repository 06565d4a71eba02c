import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Option, type Command } from "commander";
import { isFileValue } from "../../graph/ir.js";
import { DurationHistory } from "../../engine/history.js";
import { runGraph } from "../../engine/run.js";
import type { ScheduleMode } from "../../engine/scheduler.js";
import { chooseReporter } from "../../reporters/index.js";
import { CliError, EXIT } from "../exit-codes.js";
import { loadFlow, parseInputs } from "../load-flow.js";
import { inputOption } from "../main.js";
import { openProjectCache, cacheOptions, type CacheFlags } from "../project-cache.js";
import { printPlan } from "./plan.js";

export interface RunFlags extends CacheFlags {
  input?: string[];
  jobs?: string;
  failFast?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  schedule?: ScheduleMode;
}

export function parseJobs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(
      `-j needs a whole number of at least 1, got "${value}" (use -j 1 to run one step at a time)`,
    );
  }
  return n;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description("run a flow: every step its outputs need, in parallel, skipping what is cached")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .option("-j, --jobs <n>", "how many steps may run at once (default: cores + 2)")
    .option("--parallel <n>", "same as --jobs")
    .option("--fail-fast", "stop starting new steps after the first failure")
    .option("-n, --dry-run", "show what would run, in which order, without running anything")
    .option("--json", "print events as JSON lines on stdout")
    .option("-q, --quiet", "print only failures and the summary")
    .option("-v, --verbose", "show every step's output as it happens")
    .addOption(
      new Option("--schedule <mode>", "how ready steps are ordered")
        .choices(["eager", "fifo", "layers"])
        .default("eager"),
    );
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.action(async (file: string, flags: RunFlags & { parallel?: string }) => {
    process.exitCode = await runCommand(file, { ...flags, jobs: flags.jobs ?? flags.parallel });
  });
}

export async function runCommand(fileArg: string | undefined, flags: RunFlags): Promise<number> {
  const concurrency = parseJobs(flags.jobs);
  const inputs = parseInputs(flags.input);
  const color = process.stderr.isTTY === true && !process.env.NO_COLOR;
  const flow = await loadFlow(fileArg, inputs, color);
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

/** `out` values for the terminal: strings as they are, anything else as JSON. */
function formatOutputs(outputs: Record<string, unknown>): string {
  const entries = Object.entries(outputs);
  const text = (v: unknown) =>
    typeof v === "string" ? v : isFileValue(v) ? v.$file : JSON.stringify(v, null, 2);
  if (entries.length === 1) return text(entries[0]![1]);
  return entries.map(([k, v]) => `${k}: ${text(v)}`).join("\n");
}
