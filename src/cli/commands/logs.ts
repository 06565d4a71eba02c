import { Option, type Command } from "../commander.js";
import { EXIT } from "../exit-codes.js";

interface LogsFlags {
  run?: string;
  stream?: "stdout" | "stderr";
}

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description(
      "print what a step wrote in the last run (or --run ID), from the run record; a map's items by their ids: 'objs[src/a.c]'",
    )
    .argument("<step>", "the step id (a map: all of its items)")
    .argument("[file]", "the flow file (default: the nearest project from here up)")
    .option("--run <id>", "a recorded run instead of the last one (ids: the files in .tributary/runs)")
    .addOption(
      new Option("--stream <stream>", "only what the step wrote to this stream").choices([
        "stdout",
        "stderr",
      ]),
    )
    .addHelpText(
      "after",
      "\nExit 1 when the step did not run in that run (restored from the cache, blocked, not reached).\n" +
        "A plain `tributary run` records only failures' last 16 KiB; `run --record-output` (or --json, --verbose) records each stream.",
    )
    .action(async (step: string, file: string | undefined, flags: LogsFlags) => {
      const { projectAt } = await import("../project-at.js");
      const project = await projectAt(file, {});
      const { readRunRecordIn, stepLog } = await import("../../project/run-record.js");
      const log = stepLog(readRunRecordIn(project.stateDir, flags.run), step, flags.stream);
      const many = log.parts.length > 1;
      for (const part of log.parts) {
        if (!part.ran) continue;
        if (many) process.stdout.write(`==> ${part.id} <==\n`);
        for (const chunk of part.chunks) process.stdout.write(chunk);
      }
      for (const t of log.truncated)
        process.stderr.write(
          `${t.id}: ${t.droppedBytes} more bytes of ${t.stream} were not recorded (the record keeps 256 KiB per stream)\n`,
        );
      if (log.tailOnly && log.ran)
        process.stderr.write(
          `run ${log.runId} did not record step output, only a failed step's last 16 KiB of stdout and stderr together; run with --record-output to record each stream\n`,
        );
      if (!log.ran) {
        process.stderr.write(`${step} did not run in run ${log.runId}: ${log.why ?? "unknown"}\n`);
        process.exitCode = EXIT.stepFailed;
        return;
      }
      process.exitCode = EXIT.ok;
    });
}
