import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { CliError } from "./exit-codes.js";

export const DEFAULT_FLOW_FILE = "pipeline.flow";

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
