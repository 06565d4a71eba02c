import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { printWarnings, withFlowErrors } from "../flow-errors.js";
import { parseInputs } from "../option-values.js";
import { inputOption } from "../options.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("parse and check a flow without running it; reports every error of the file at once")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .action(async (file: string | undefined, flags: { input?: string[] }) => {
      const { openProject } = await import("../../project/project.js");
      const project = openProject({ flow: file, inputs: parseInputs(flags.input) });
      const graph = await withFlowErrors(file, () => project.graph());
      await printWarnings(project.sourceText, await project.warnings());
      const n = graph.steps.length;
      process.stdout.write(`${file ?? "pipeline.flow"}: ok, ${n} step${n === 1 ? "" : "s"}\n`);
      process.exitCode = EXIT.ok;
    });
}
