import { isFileValue } from "../graph/ir.js";

/** `out` values on stdout: strings as they are, files as their paths, anything else as JSON. */
export function printOutputs(
  outputs: Record<string, unknown> | undefined,
  declared: readonly string[] | undefined,
  quiet: boolean,
): void {
  if (!outputs || quiet || !declared?.length) return;
  const text = (v: unknown) =>
    typeof v === "string" ? v : isFileValue(v) ? v.$file : JSON.stringify(v, null, 2);
  const entries = declared.filter((id) => id in outputs).map((id) => [id, outputs[id]] as const);
  if (entries.length === 0) return;
  const lines = entries.length === 1 ? [text(entries[0]![1])] : entries.map(([k, v]) => `${k}: ${text(v)}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}
