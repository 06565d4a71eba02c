import { Option, type Command } from "../commander.js";
import type { RunFlags } from "../run-command.js";
import {
  cacheOptions,
  forceOption,
  inputOption,
  jobsOption,
  queueOptions,
  scheduleOption,
} from "../options.js";

export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description(
      "run a flow: every step its outputs (or the targets) need, in parallel, skipping what is cached",
    )
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .argument("[targets...]", "run only these steps and what they need (default: the flow's outputs)")
    .addOption(inputOption())
    .addOption(jobsOption())
    .option("--parallel <n>", "same as --jobs")
    .option("--fail-fast", "stop starting new steps after the first failure")
    .addOption(
      new Option(
        "--keep-going",
        "after a failure, finish every step that does not depend on it (the default; the opposite of --fail-fast)",
      ).conflicts("failFast"),
    )
    .addOption(forceOption())
    .option("-n, --dry-run", "show what would run, in which order, without running anything")
    .option("-w, --watch", "run again whenever a file the flow reads changes, until Ctrl-C")
    .option(
      "--json",
      'print events as JSON lines on stdout (each with "v": 1, see docs/events.md); a reader that stops early (| head) does not stop the run: it finishes without output and exits with its usual code',
    )
    .option(
      "--record-output",
      "keep every step's output in the run record for `tributary logs` (up to 256 KiB per stream; processes then start through Node's spawn, slower than the job server); --json and --verbose do this too",
    )
    .option("-q, --quiet", "print only failures and the summary")
    .option("-v, --verbose", "show every step's output as it happens")
    .addOption(scheduleOption())
    .option(
      "--memory <size>",
      "memory the steps that declare `memory:` share, like 8GB (default: the machine's)",
    )
    .addOption(
      new Option(
        "--serial",
        "debug mode: one step at a time, in declaration order, each step's output shown as one block",
      ).conflicts(["jobs", "parallel", "shuffle"]),
    )
    .option(
      "--shuffle [seed]",
      "test mode: start ready steps in a random order from SEED (printed; drawn when not given) to expose undeclared dependencies",
    )
    .option(
      "--remote <url>",
      "send steps to `tributary worker`s through Redis: redis://host:port or rediss://",
    )
    .option(
      "--report [file]",
      "at the end, write the HTML report of the run (default .tributary/report.html; see `tributary report`); records every step's output as --record-output does",
    )
    .option(
      "--trace <file>",
      "write a trace of the run (every step on the slot it ran in) for Perfetto or chrome://tracing",
    );
  for (const o of [...queueOptions(), ...cacheOptions()]) cmd.addOption(o);
  cmd.action(async (file: string | undefined, targets: string[], flags: RunFlags) => {
    // Loaded with the action: `--help` does not need it.
    const { runCommand } = await import("../run-command.js");
    process.exitCode = await runCommand(file, targets, flags);
  });
}
