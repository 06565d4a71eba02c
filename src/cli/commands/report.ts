import { resolve } from "node:path";
import type { Command } from "../commander.js";
import type { RunReport } from "../../project/report.js";

interface ReportFlags {
  run?: string;
  output?: string;
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description(
      "write the HTML report of the last recorded run (graph, timeline by slot, each step's details); prints its path",
    )
    .argument("[file]", "the flow file (default: the nearest project from here up)")
    .option("--run <id>", "the run to report (default: the last; ids are the names in .tributary/runs)")
    .option("-o, --output <file>", "where to write it (default: .tributary/report.html in the project)")
    .action(async (fileArg: string | undefined, flags: ReportFlags) => {
      const file = flags.output === undefined ? undefined : resolve(flags.output);
      const { projectAt } = await import("../project-at.js");
      const project = await projectAt(fileArg, {});
      const { writeRunReport } = await import("../../project/report.js");
      const report = writeRunReport(project.root, { runId: flags.run, file, stateDir: project.stateDir });
      printReportWritten(report, process.stdout);
    });
}

/** The path on `out` (so scripts can open it), and on stderr whether the run it shows was cut short. */
export function printReportWritten(report: RunReport, out: NodeJS.WritableStream): void {
  out.write(`${report.file}\n`);
  if (!report.complete) {
    process.stderr.write(
      `the record of run ${report.runId ?? "(unknown id)"} is incomplete (the run was killed or is still running): the report shows what it holds\n`,
    );
  }
}
