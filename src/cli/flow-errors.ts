import type { Diagnostic } from "../language/index.js";
import { DEFAULT_FLOW_FILE, InvalidFlowError } from "../project/flow.js";
import { stderrColor } from "./color.js";
import { CliError, EXIT } from "./exit-codes.js";

/** Runs `fn`; a flow with errors becomes every diagnostic at once, coloured for the terminal. */
export async function withFlowErrors<T>(fileArg: string | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof InvalidFlowError)) throw err;
    throw new CliError(await flowErrorsText(fileArg, err), EXIT.invalid);
  }
}

/** Every diagnostic of a flow with errors, coloured for the terminal, and how many errors there are. */
export async function flowErrorsText(fileArg: string | undefined, err: InvalidFlowError): Promise<string> {
  const { formatDiagnostics } = await import("../language/index.js");
  const n = err.diagnostics.filter((d) => d.severity !== "warning").length;
  const text = formatDiagnostics(err.diagnostics, err.source, { color: stderrColor() });
  return `${text}\n${n} error${n === 1 ? "" : "s"} in ${fileArg ?? DEFAULT_FLOW_FILE}`;
}

/** A compiled flow's warnings on stderr. */
export async function printWarnings(
  source: string | undefined,
  warnings: readonly Diagnostic[],
): Promise<void> {
  if (warnings.length === 0 || source === undefined) return;
  const { formatDiagnostics } = await import("../language/index.js");
  process.stderr.write(`${formatDiagnostics(warnings, source, { color: stderrColor() })}\n`);
}
