import { Option, type Command } from "commander";
import type { GraphFormat } from "../../graph/render.js";
import { inputOption } from "../options.js";

export function registerGraph(program: Command): void {
  program
    .command("graph")
    .description("print the dependency graph of a flow")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["dot", "mermaid", "json"]).default("dot"),
    )
    .action(async (file: string | undefined, flags: { input?: string[]; format: GraphFormat }) => {
      const { graphCommand } = await import("../actions/inspect.js");
      process.exitCode = await graphCommand(file, flags);
    });
}
