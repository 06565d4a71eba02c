import type { Command } from "commander";
import { inputOption } from "../options.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("parse and check a flow without running it; reports every error of the file at once")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .action(async (file: string | undefined, flags: { input?: string[] }) => {
      const { checkCommand } = await import("../actions/inspect.js");
      process.exitCode = await checkCommand(file, flags);
    });
}
