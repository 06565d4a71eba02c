/** Helpers for the wording of diagnostics: "did you mean", and how a value is described. */
import type { Expr } from "../ast.js";
import { suggest as editSuggest } from "../../graph/topology.js";
import type { ValueExpr } from "../../graph/ir.js";

/**
 * "did you mean X?": by edit distance, else the candidate sharing the longest start with the name
 * (`retries` -> `retry`, `conc` -> `concurrency`).
 */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  const near = editSuggest(name, list);
  if (near || name.length < 3) return near;
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestLen = 0;
  for (const c of list) {
    const cl = c.toLowerCase();
    let k = 0;
    while (k < cl.length && k < lower.length && cl[k] === lower[k]) k++;
    const enough = k >= 4 || (k >= 3 && k === Math.min(cl.length, lower.length));
    if (enough && k > bestLen) {
      best = c;
      bestLen = k;
    }
  }
  return best === undefined ? undefined : `did you mean ${best}?`;
}

export function describeJs(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  if (v === null || v === undefined) return "nothing";
  return "a record";
}

export function describeValue(c: { expr: ValueExpr }, e: Expr): string {
  if (c.expr.kind === "lit") return describeJs(c.expr.value);
  return e.kind;
}
