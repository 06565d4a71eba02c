import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { loadModuleFile as loadModule } from "../executors/load-module.js";
import type { Graph } from "../graph/ir.js";
import { compileFlow, formatDiagnostics, type FlowInfo } from "../language/index.js";
import { CliError, EXIT } from "./exit-codes.js";
import { DEFAULT_FLOW_FILE, resolveFlowFile } from "./flow-file.js";

export interface LoadedFlow {
  file: string;
  /** The project root: the flow file's directory. */
  root: string;
  graph: Graph;
  info: FlowInfo;
  /** Formatted warnings, if any. */
  warnings: string;
}

/** Reads, checks and compiles a flow file; every diagnostic of the file is reported at once. */
export async function loadFlow(
  arg: string | undefined,
  inputs: Record<string, string>,
  color: boolean,
  read?: { file: string; source: string },
): Promise<LoadedFlow> {
  const file = read?.file ?? resolveFlowFile(arg);
  const root = dirname(file);
  const source = read?.source ?? readFileSync(file, "utf8");
  const { graph, diagnostics, info } = await compileFlow(source, file, { inputs, root, loadModule });
  const errors = diagnostics.filter((d) => d.severity !== "warning");
  const warnings = diagnostics.filter((d) => d.severity === "warning");
  if (errors.length > 0 || !graph) {
    const text = formatDiagnostics(diagnostics, source, { color });
    const n = errors.length;
    throw new CliError(
      `${text}\n${n} error${n === 1 ? "" : "s"} in ${arg ?? DEFAULT_FLOW_FILE}`,
      EXIT.invalid,
    );
  }
  return {
    file,
    root,
    graph,
    info,
    warnings: warnings.length > 0 ? formatDiagnostics(warnings, source, { color }) : "",
  };
}
