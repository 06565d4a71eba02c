/**
 * How deeply a value nests once the values it uses are put in. Each statement is within the parser's
 * nesting limit, but a chain of values (`v2 = [v1]`, `v3 = [v2]`, ...) builds data of any depth, which
 * hashing and evaluation at run time would recurse through. Linear over a file: depths are remembered
 * per object, and values share the objects of the values they use.
 */
import type { ValueExpr } from "../../graph/ir.js";
import { MAX_DEPTH } from "../parse-cursor.js";

export { MAX_DEPTH as MAX_VALUE_DEPTH };

const known = new WeakMap<object, number>();

/** Levels of lists and records in what `e` evaluates to; past `limit`, some number above it. */
export function valueDepth(e: ValueExpr, limit: number): number {
  const seen = known.get(e);
  if (seen !== undefined) return seen;
  if (limit < 0) return limit + 1 + MAX_DEPTH;
  let d = 0;
  switch (e.kind) {
    case "lit":
      d = dataDepth(e.value, limit);
      break;
    case "list":
      d = 1 + deepest(e.items, limit - 1);
      break;
    case "record":
      d = 1 + deepest(Object.values(e.fields), limit - 1);
      break;
    case "concat":
      d = deepest(e.parts, limit);
      break;
    default:
      d = 0;
  }
  if (d <= limit) known.set(e, d);
  return d;
}

function deepest(es: readonly ValueExpr[], limit: number): number {
  let d = 0;
  for (const x of es) {
    d = Math.max(d, valueDepth(x, limit));
    if (d > limit) break;
  }
  return d;
}

function dataDepth(v: unknown, limit: number): number {
  if (typeof v !== "object" || v === null) return 0;
  const seen = known.get(v);
  if (seen !== undefined) return seen;
  if (limit <= 0) return 1 + MAX_DEPTH;
  let d = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    d = Math.max(d, dataDepth(x, limit - 1));
    if (d >= limit) break;
  }
  d += 1;
  if (d <= limit) known.set(v, d);
  return d;
}
