import { Option, type Command } from "commander";
import { renderGraph, type GraphFormat } from "../../graph/render.js";
import { EXIT } from "../exit-codes.js";
import { loadFlow, parseInputs } from "../load-flow.js";
import { inputOption } from "../main.js";

export function registerGraph(program: Command): void {
  program
    .command("graph")
    .description("print the dependency graph of a flow")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["dot", "mermaid", "json"]).default("dot"),
    )
    .action(async (file: string, flags: { input?: string[]; format: GraphFormat }) => {
      const flow = await loadFlow(file, parseInputs(flags.input), process.stderr.isTTY === true);
      process.stdout.write(renderGraph(flow.graph, flags.format));
      process.exitCode = EXIT.ok;
    });
}
