import { resolve } from "node:path";
import type { Command } from "commander";
import type { Diagnostic } from "../../language/index.js";
import { EXIT } from "../exit-codes.js";
import { inputOption } from "../options.js";
import { UserError } from "../../engine/user-error.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("parse and check a flow without running it; reports every error of the file at once")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .option(
      "--json",
      'print the diagnostics as one JSON document for editors and CI: { "v": 1, "ok", "diagnostics": [{ severity, code, message, file, line, col, endLine, endCol, hint? }] } (exit codes unchanged)',
    )
    .action(async (file: string | undefined, flags: { input?: string[]; json?: boolean }) => {
      if (flags.json) {
        process.exitCode = await checkJson(file, flags);
        return;
      }
      const [{ openProject }, { printWarnings, withFlowErrors }, { parseInputs }] = await Promise.all([
        import("../../project/project.js"),
        import("../flow-errors.js"),
        import("../option-values.js"),
      ]);
      const project = openProject({ flow: file, inputs: parseInputs(flags.input) });
      const graph = await withFlowErrors(file, () => project.graph());
      await printWarnings(project.sourceText, await project.warnings());
      const n = graph.steps.length;
      process.stdout.write(`${file ?? "pipeline.flow"}: ok, ${n} step${n === 1 ? "" : "s"}\n`);
      process.exitCode = EXIT.ok;
    });
}

/** One JSON document, whatever went wrong with the flow: an editor reads it, a person reads its message. */
async function checkJson(file: string | undefined, flags: { input?: string[] }): Promise<number> {
  let diagnostics: readonly JsonDiagnostic[];
  let code: number = EXIT.ok;
  const [{ openProject }, { DEFAULT_FLOW_FILE, InvalidFlowError }, { parseInputs }, { EVENTS_VERSION }] =
    await Promise.all([
      import("../../project/project.js"),
      import("../../project/flow.js"),
      import("../option-values.js"),
      import("../../reporters/json-lines.js"),
    ]);
  try {
    const project = openProject({ flow: file, inputs: parseInputs(flags.input) });
    await project.graph();
    diagnostics = await project.warnings();
  } catch (err) {
    if (err instanceof InvalidFlowError) diagnostics = err.diagnostics;
    else if (err instanceof UserError) {
      // Not about a place in the flow (a missing file, a bad --input): said of the file as a whole.
      const at = resolve(file ?? DEFAULT_FLOW_FILE);
      diagnostics = [
        { severity: "error", code: "cannot-check", message: err.message, file: at, line: 1, col: 1 },
      ];
      code = err.code;
    } else throw err;
    if (code === EXIT.ok) code = EXIT.invalid;
  }
  const ok = !diagnostics.some((d) => d.severity === "error");
  const doc = { v: EVENTS_VERSION, ok, diagnostics: diagnostics.map(diagnosticJson) };
  process.stdout.write(`${JSON.stringify(doc)}\n`);
  return code;
}

/** A diagnostic as printed: a problem with the whole file has no end. */
type JsonDiagnostic = Pick<Diagnostic, "severity" | "code" | "message" | "file" | "line" | "col" | "hint"> &
  Partial<Pick<Diagnostic, "endLine" | "endCol">>;

function diagnosticJson(d: JsonDiagnostic): Record<string, unknown> {
  const out: Record<string, unknown> = {
    severity: d.severity,
    code: d.code,
    message: d.message,
    file: d.file,
    line: d.line,
    col: d.col,
  };
  if (d.endLine !== undefined) out.endLine = d.endLine;
  if (d.endCol !== undefined) out.endCol = d.endCol;
  if (d.hint !== undefined) out.hint = d.hint;
  return out;
}
