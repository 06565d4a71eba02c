import { existsSync } from "node:fs";
import { DEFAULT_FLOW_FILE } from "../project/flow.js";
import { CliError } from "./exit-codes.js";

/**
 * The first argument of `run` is the flow file; a step name there (`tributary run link`) is told how to
 * say it, when the flow it would belong to is the default one (pipeline.flow).
 */
export function checkFlowArgument(fileArg: string | undefined, targets: readonly string[]): void {
  if (fileArg === undefined || fileArg.endsWith(".flow") || existsSync(fileArg)) return;
  if (!existsSync(DEFAULT_FLOW_FILE)) return;
  throw new CliError(
    `flow file not found: ${fileArg} (to run steps of ${DEFAULT_FLOW_FILE}, name it first: tributary run ${DEFAULT_FLOW_FILE} ${[fileArg, ...targets].join(" ")})`,
  );
}
