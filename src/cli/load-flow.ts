import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Graph } from "../graph/ir.js";
import { compileFlow, formatDiagnostics, type FlowInfo } from "../language/index.js";
import { CliError, EXIT } from "./exit-codes.js";

export const DEFAULT_FLOW_FILE = "pipeline.flow";

export interface LoadedFlow {
  file: string;
  /** The project root: the flow file's directory. */
  root: string;
  graph: Graph;
  info: FlowInfo;
  /** Formatted warnings, if any. */
  warnings: string;
}

/** Resolves the flow file argument (default pipeline.flow), with an error that says what to do. */
export function resolveFlowFile(arg: string | undefined): string {
  const file = resolve(arg ?? DEFAULT_FLOW_FILE);
  if (!existsSync(file)) {
    throw new CliError(
      arg
        ? `flow file not found: ${arg}`
        : `no ${DEFAULT_FLOW_FILE} in ${process.cwd()}; pass a flow file: tributary run path/to/file.flow`,
    );
  }
  if (statSync(file).isDirectory()) {
    const inside = resolve(file, DEFAULT_FLOW_FILE);
    if (existsSync(inside)) return inside;
    throw new CliError(`${arg} is a directory without a ${DEFAULT_FLOW_FILE}; pass the flow file itself`);
  }
  return file;
}

/** Reads, checks and compiles a flow file; every diagnostic of the file is reported at once. */
export async function loadFlow(
  arg: string | undefined,
  inputs: Record<string, string>,
  color: boolean,
): Promise<LoadedFlow> {
  const file = resolveFlowFile(arg);
  const root = dirname(file);
  const source = readFileSync(file, "utf8");
  const { graph, diagnostics, info } = await compileFlow(source, file, { inputs, root });
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
