/** Input values given from outside (the command line, the API) as checked values and expressions. */
import type { ValueExpr } from "../../graph/ir.js";
import { setOwn } from "../../graph/own.js";
import { checkValue, type Type } from "../types.js";

/** Converts an input value given as text (`--input n=5`) to the declared type. */
export function convertInput(raw: unknown, type: Type): { value?: unknown; error?: string } {
  if (typeof raw !== "string") {
    const why = checkValue(raw, type);
    return why ? { error: why } : { value: raw };
  }
  switch (type.kind) {
    case "Optional":
      return raw === "" ? { value: null } : convertInput(raw, type.inner);
    case "String":
      return { value: raw };
    case "File":
      return raw === "" ? { error: "expected a file path, got nothing" } : { value: raw };
    case "Int":
      return /^\s*[+-]?\d+\s*$/.test(raw) && Number.isSafeInteger(Number(raw))
        ? { value: Number(raw) }
        : { error: `${JSON.stringify(raw)} is not a whole number` };
    case "Float": {
      const n = Number(raw);
      return raw.trim() !== "" && Number.isFinite(n)
        ? { value: n }
        : { error: `${JSON.stringify(raw)} is not a number` };
    }
    case "Bool": {
      const s = raw.trim().toLowerCase();
      if (["true", "yes", "on", "1"].includes(s)) return { value: true };
      if (["false", "no", "off", "0"].includes(s)) return { value: false };
      return { error: `${JSON.stringify(raw)} is not true or false` };
    }
    case "Any":
      try {
        return { value: JSON.parse(raw) };
      } catch {
        return { value: raw };
      }
    case "List":
    case "Record": {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch (err) {
        return {
          error: `${JSON.stringify(raw.length > 40 ? raw.slice(0, 40) + "..." : raw)} is not valid JSON (${(err as Error).message})`,
        };
      }
      const why = checkValue(v, type);
      return why ? { error: why } : { value: v };
    }
  }
}

/** A checked value as an expression: File positions become file(...) so that they are hashed. */
export function valueToExpr(v: unknown, type: Type, depth = 0): ValueExpr {
  if (depth > 50 || !containsFile(type)) return { kind: "lit", value: v };
  switch (type.kind) {
    case "File":
      return { kind: "file", path: { kind: "lit", value: v } };
    case "Optional":
      return v === null || v === undefined
        ? { kind: "lit", value: null }
        : valueToExpr(v, type.inner, depth + 1);
    case "List":
      return { kind: "list", items: (v as unknown[]).map((x) => valueToExpr(x, type.item, depth + 1)) };
    case "Record": {
      const fields: Record<string, ValueExpr> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const ft = type.fields[k];
        setOwn(fields, k, ft ? valueToExpr(x, ft, depth + 1) : { kind: "lit", value: x });
      }
      return { kind: "record", fields };
    }
    default:
      return { kind: "lit", value: v };
  }
}

function containsFile(t: Type, depth = 0): boolean {
  if (depth > 50) return false;
  switch (t.kind) {
    case "File":
      return true;
    case "List":
      return containsFile(t.item, depth + 1);
    case "Optional":
      return containsFile(t.inner, depth + 1);
    case "Record":
      return Object.values(t.fields).some((f) => containsFile(f, depth + 1));
    default:
      return false;
  }
}

/**
 * A run's value for an input of the given type, as the expression that stands for it in the graph; or
 * why it cannot be one. Strings are converted as `--input k=v` values are.
 */
export function inputExpr(raw: unknown, type: Type): { expr: ValueExpr } | { error: string } {
  const conv = convertInput(raw, type);
  return conv.error !== undefined ? { error: conv.error } : { expr: valueToExpr(conv.value, type) };
}
