import { isFileValue } from "../graph/ir.js";
import type { ProjectRunResult } from "../project/run.js";
import type { OutputStream } from "../reporters/types.js";

/**
 * The values of the steps a run was asked for (its targets, else the flow's `out`s) on stdout: strings
 * as they are, files as their paths, anything else as JSON. One output alone is printed bare, several as
 * `name: value` lines. A failed run prints those it produced; the others are named on stderr with why
 * they are missing, so that stdout only ever holds values.
 */
export function printOutputs(
  result: Pick<ProjectRunResult, "outputs" | "declaredOutputs" | "steps">,
  quiet: boolean,
  stdout: OutputStream = process.stdout,
): void {
  const declared = result.declaredOutputs;
  if (quiet || declared.length === 0) return;
  const text = (v: unknown) =>
    typeof v === "string" ? v : isFileValue(v) ? v.$file : JSON.stringify(v, null, 2);
  const outputs = result.outputs;
  const produced = declared.filter((id) => id in outputs);
  if (produced.length > 0) {
    const lines =
      declared.length === 1
        ? [text(outputs[produced[0]!])]
        : produced.map((id) => `${id}: ${text(outputs[id])}`);
    stdout.write(`${lines.join("\n")}\n`);
  }
  const missing = declared.filter((id) => !(id in outputs));
  if (missing.length > 0) {
    const why = new Map(result.steps.map((s) => [s.id, s]));
    const reasons = missing.map((id) => {
      const s = why.get(id);
      if (s?.status === "blocked") return `${id} (blocked by ${s.blockedBy ?? "a failed step"})`;
      return `${id} (${s?.status ?? "not run"})`;
    });
    process.stderr.write(`not produced: ${reasons.join(", ")}\n`);
  }
}
