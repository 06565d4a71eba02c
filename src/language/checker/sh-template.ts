/** Places in a `sh` command template where no quoting makes an interpolated value safe, found at check time. */
import type { ValueExpr } from "../../graph/ir.js";
import { quoteFor, templateContexts } from "../../graph/shell-context.js";
import type { Expr } from "../ast.js";
import type { DiagnosticSink } from "../diagnostics.js";

/**
 * Reports each `${...}` of a static `sh` template that lands where the run would refuse it (a comment,
 * backticks, `$'...'`, a quoted here-document), and each constant that would end its here-document.
 * `values` are the compiled interpolations, in order. The places come from the same scanner the run
 * quotes with, so check and run cannot disagree.
 */
export function checkShellTemplate(
  parts: readonly (string | Expr)[],
  values: readonly ValueExpr[],
  sink: DiagnosticSink,
): void {
  const contexts = templateContexts(parts.map((p) => (typeof p === "string" ? p : null)));
  let k = 0;
  parts.forEach((p, i) => {
    if (typeof p === "string") return;
    const context = contexts[i]!;
    const value = values[k++];
    // A constant is known now: the run would refuse it in a here-document it ends.
    const text = value?.kind === "lit" && typeof value.value === "string" ? value.value : "";
    const q = context.kind === "refused" || context.kind === "heredoc" ? quoteFor(context, text) : "";
    if (typeof q === "string") return;
    // Underline the whole `${...}` (only blanks can stand between it and the expression).
    const source = sink.lines.source;
    const open = source.lastIndexOf("${", p.start);
    const close = source.indexOf("}", p.end);
    sink.error(
      "sh-unsafe-interpolation",
      `\${...} lands in ${q.refused}, where no quoting makes a value safe`,
      open === -1 ? p.start : open,
      close === -1 ? p.end : close + 1,
      q.fix,
    );
  });
}
