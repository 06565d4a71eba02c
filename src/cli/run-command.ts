import { join, resolve } from "node:path";
import type { ScheduleMode } from "../engine/scheduler.js";
import { CliError, EXIT, runExitCode } from "./exit-codes.js";
import { checkFlowArgument } from "./flow-argument.js";
import { cacheSettingsOf, remoteSettingsOf, type CacheFlags, type QueueFlags } from "./flag-settings.js";

/**
 * What `tributary run` does with its parsed command line. Apart from the command's definition
 * (commands/run.ts) so that the common command lines can reach it without commander (quick-run.ts).
 */

export interface RunFlags extends CacheFlags, QueueFlags {
  input?: string[];
  jobs?: string;
  parallel?: string;
  failFast?: boolean;
  keepGoing?: boolean;
  force?: string[];
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** Commander gives its default; a command line parsed without it leaves the engine's. */
  schedule?: ScheduleMode;
  remote?: string;
  trace?: string;
  watch?: boolean;
  serial?: boolean;
  shuffle?: string | boolean;
  memory?: string;
  recordOutput?: boolean;
  /** `--report` alone: true (the default file); `--report FILE`: the file. */
  report?: string | boolean;
}

export async function runCommand(
  fileArg: string | undefined,
  targetArgs: string[],
  flags: RunFlags,
): Promise<number> {
  // What the run needs, loaded here rather than with the command: `--help` and the other commands do not.
  const [values, { loadReporter }, { printWarnings, withFlowErrors }, { printOutputs }, { openProject }] =
    await Promise.all([
      import("./option-values.js"),
      import("../reporters/choose.js"),
      import("./flow-errors.js"),
      import("./output.js"),
      import("../project/project.js"),
    ]);
  const { parseInputs, parseJobs, parseMemory, parseShuffleSeed } = values;
  const concurrency = parseJobs(flags.jobs ?? flags.parallel);
  const shuffleSeed = parseShuffleSeed(flags.shuffle);
  const memory = parseMemory(flags.memory);
  const serial = flags.serial === true;
  // With --serial, output is worth reading as it comes: each step's as one block (nothing interleaves).
  const verbose = flags.verbose === true || (serial && flags.quiet !== true);
  const inputs = parseInputs(flags.input);
  checkFlowArgument(fileArg, targetArgs);
  const outputs = targetArgs.length > 0 ? targetArgs : undefined;
  const open = {
    flow: fileArg,
    inputs,
    cache: cacheSettingsOf(flags),
    remote: flags.remote === undefined ? undefined : remoteSettingsOf(flags.remote, "--remote", flags),
  };
  const project = openProject(open);
  if (flags.report !== undefined && (flags.dryRun || flags.watch)) {
    throw new CliError(
      `--report cannot be combined with ${flags.dryRun ? "--dry-run (nothing runs)" : "--watch"}: run \`tributary report\` for the last run's report`,
    );
  }
  if (flags.dryRun) {
    const { printPlan } = await import("./commands/plan.js");
    await printPlan(fileArg, project, { concurrency, mode: flags.schedule, outputs, force: flags.force });
    return EXIT.ok;
  }
  // Named from where the command ran, before the working directory becomes the project root.
  const trace = flags.trace === undefined ? undefined : resolve(flags.trace);
  const reportFile = typeof flags.report === "string" ? resolve(flags.report) : undefined;
  if (shuffleSeed !== undefined) announceShuffle(shuffleSeed);
  // What every run of this command shares, watched or not.
  const run = {
    concurrency,
    failFast: flags.failFast,
    mode: flags.schedule,
    memory,
    serial,
    shuffleSeed,
    // Live output costs the fast job server; only pay for it when someone reads it as it happens.
    liveOutput: streamsOutput(flags, verbose),
    trace,
    record: true,
  };
  if (flags.watch) {
    const { runWatch } = await import("./commands/run-watch.js");
    const view = { json: flags.json, quiet: flags.quiet, verbose };
    return runWatch(fileArg, { ...open, flow: project.file }, run, view, project.root);
  }
  const reporter = await loadReporter({ json: flags.json, quiet: flags.quiet, verbose });
  // The report's code only when one is asked for: a plain run does not load it.
  const reports = flags.report === undefined ? undefined : await import("../project/report.js");
  const reportCommand = flags.report === undefined ? undefined : await import("./commands/report.js");
  const report = reports && new reports.RunReportWriter();
  const reportTo = reports && (reportFile ?? join(project.stateDir, reports.REPORT_FILE));
  // Before the run: a report file that must not be written (a flow file) is said at once.
  if (reportTo) reports.checkReportFile(reportTo);
  // In-process steps see the project root as their working directory, as processes do.
  process.chdir(project.root);
  let result;
  try {
    result = await withFlowErrors(fileArg, () =>
      project.run({
        ...run,
        outputs,
        force: flags.force,
        handleSignals: true,
        onEvent: report ? [reporter.onEvent, report.onEvent] : reporter.onEvent,
      }),
    );
  } finally {
    reporter.close();
  }
  if (reports && report && reportTo && reportCommand) {
    // A run answered from the last one (nothing changed) told its listeners only its end; its record
    // names every step it stands for.
    const written = result.noOp
      ? reports.writeRunReport(project.root, { file: reportTo, stateDir: project.stateDir })
      : report.write(reportTo);
    reportCommand.printReportWritten(written, process.stderr);
  }
  if (!result.noOp) await printWarnings(project.sourceText, await project.warnings());
  printOutputs(result, flags.json === true || flags.quiet === true);
  if (!result.cancelled && result.remoteProblems.length > 0) {
    // --remote-cache-required: the build is not done until its results are on the remote.
    process.stderr.write(
      `the remote cache failed (--remote-cache-required):\n${result.remoteProblems.map((p) => `  ${p}`).join("\n")}\n`,
    );
  }
  return runExitCode(result);
}

/** Live output costs the fast job server; only pay for it when someone reads the output. */
function streamsOutput(flags: RunFlags, verbose: boolean): boolean {
  return verbose || flags.json === true || flags.recordOutput === true || flags.report !== undefined;
}

/** The seed goes to stderr before anything runs, so even a run that hangs or crashes can be repeated. */
function announceShuffle(seed: number): void {
  process.stderr.write(`shuffle: seed ${seed} (repeat this order with --shuffle=${seed} -j 1)\n`);
}
