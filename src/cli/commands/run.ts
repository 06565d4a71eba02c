import type { Command } from "commander";
import type { ScheduleMode } from "../../engine/scheduler.js";
import { cacheOptions, inputOption, jobsOption, scheduleOption, type CacheFlags } from "../options.js";
import { runFlagsOf, type RawRunFlags } from "../run-args.js";

export interface RunFlags extends CacheFlags {
  input?: string[];
  jobs?: string;
  failFast?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  schedule?: ScheduleMode;
  /** redis:// URL: send steps to `tributary worker`s instead of running them here. */
  remote?: string;
  queue?: string;
  /** Write a Chrome trace (Perfetto, chrome://tracing) of the run to this file. */
  trace?: string;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description("run a flow: every step its outputs need, in parallel, skipping what is cached")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .addOption(jobsOption())
    .option("--parallel <n>", "same as --jobs")
    .option("--fail-fast", "stop starting new steps after the first failure")
    .option("-n, --dry-run", "show what would run, in which order, without running anything")
    .option("--json", "print events as JSON lines on stdout")
    .option("-q, --quiet", "print only failures and the summary")
    .option("-v, --verbose", "show every step's output as it happens")
    .addOption(scheduleOption())
    .option(
      "--remote <url>",
      "send steps to workers through Redis: redis://host:port (see `tributary worker`)",
    )
    .option("--queue <name>", "with --remote: the workers' queue (default tributary)")
    .option(
      "--trace <file>",
      "write a trace of the run (every step on the slot it ran in) for Perfetto or chrome://tracing",
    );
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.action(async (file: string | undefined, flags: RawRunFlags) => {
    const { runCommand } = await import("../actions/run.js");
    process.exitCode = await runCommand(file, runFlagsOf(flags));
  });
}
