/** What kind of thing a call is, and the types of step values that follow from the call alone. */
import type { StepFn } from "../../graph/ir.js";
import type { Expr } from "../ast.js";
import { T, type Type } from "../types.js";

/** Whether a call makes a step (as opposed to a value like file(...)). */
export const STEP_BUILTINS = new Set(["exec", "sh", "map"]);
export const VALUE_BUILTINS = new Set(["file", "glob", "lines", "jsonl", "output"]);

const PARTIAL_FAILURE = T.record({
  key: T.String,
  index: T.Int,
  item: T.Any,
  status: T.String,
  error: T.optional(T.record({ kind: T.String, message: T.String })),
});

/** The action of a value listed by `out`: a tiny step that passes it on. */
export const identity: StepFn = function value(v: unknown) {
  return v;
};

export function partialType(mapType: Type): Type {
  return T.record({ ok: mapType.kind === "List" ? mapType : T.list(T.Any), failed: T.list(PARTIAL_FAILURE) });
}

export function outputsType(n: number): Type {
  return n === 0 ? T.String : n === 1 ? T.File : T.list(T.File);
}

export function isWordType(t: Type): boolean {
  switch (t.kind) {
    case "String":
    case "Int":
    case "Float":
    case "Bool":
    case "File":
    case "Any":
      return true;
    case "List":
      return isWordType(t.item);
    case "Optional":
      return isWordType(t.inner);
    default:
      return false;
  }
}

/** Output calls written in a command's arguments (not inside nested module calls). */
export function countOutputs(args: readonly Expr[]): number {
  let n = 0;
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case "call":
        if (e.callee === "output") n++;
        return;
      case "list":
        e.items.forEach(walk);
        return;
      case "record":
        e.fields.forEach((f) => walk(f.value));
        return;
      case "string":
        for (const p of e.parts) if (typeof p !== "string") walk(p);
        return;
      default:
        return;
    }
  };
  args.forEach(walk);
  return n;
}
