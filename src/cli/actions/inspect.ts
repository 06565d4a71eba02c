import { renderGraph, type GraphFormat } from "../../graph/render.js";
import { EXIT } from "../exit-codes.js";
import { loadFlow } from "../load-flow.js";
import { parseInputs } from "../option-values.js";
import { stderrColor } from "./color.js";

export async function checkCommand(file: string | undefined, flags: { input?: string[] }): Promise<number> {
  const flow = await loadFlow(file, parseInputs(flags.input), stderrColor());
  if (flow.warnings) process.stderr.write(`${flow.warnings}\n`);
  const n = flow.graph.steps.length;
  process.stdout.write(`${file ?? "pipeline.flow"}: ok, ${n} step${n === 1 ? "" : "s"}\n`);
  return EXIT.ok;
}

export async function graphCommand(
  file: string | undefined,
  flags: { input?: string[]; format: GraphFormat },
): Promise<number> {
  const flow = await loadFlow(file, parseInputs(flags.input), stderrColor());
  process.stdout.write(renderGraph(flow.graph, flags.format));
  return EXIT.ok;
}
