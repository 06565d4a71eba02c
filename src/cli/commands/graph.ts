import { Option, type Command } from "../commander.js";
import type { GraphFormat } from "../../graph/render.js";
import { EXIT } from "../exit-codes.js";
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
      const [{ openProject }, { renderGraph }, { withFlowErrors }, { parseInputs }] = await Promise.all([
        import("../../project/project.js"),
        import("../../graph/render.js"),
        import("../flow-errors.js"),
        import("../option-values.js"),
      ]);
      const project = openProject({ flow: file, inputs: parseInputs(flags.input) });
      process.stdout.write(renderGraph(await withFlowErrors(file, () => project.graph()), flags.format));
      process.exitCode = EXIT.ok;
    });
}
