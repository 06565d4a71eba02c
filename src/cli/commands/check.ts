import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { loadFlow, parseInputs } from "../load-flow.js";
import { inputOption } from "../main.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("parse and check a flow without running it; reports every error of the file at once")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .action(async (file: string, flags: { input?: string[] }) => {
      const flow = await loadFlow(file, parseInputs(flags.input), process.stderr.isTTY === true);
      if (flow.warnings) process.stderr.write(`${flow.warnings}\n`);
      const n = flow.graph.steps.length;
      process.stdout.write(`${file}: ok, ${n} step${n === 1 ? "" : "s"}\n`);
      process.exitCode = EXIT.ok;
    });
}
