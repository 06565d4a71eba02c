import { canonicalJson } from "./canonical.js";
import { digestBytes } from "./digest.js";
import { InputError, describe, evalSync, projectOutputs } from "./eval.js";
import { isFileValue, type Step, type ValueExpr } from "./ir.js";
import { pathPartField, pathPartOf } from "./path-part.js";

/**
 * The items of a map: each is the map's inputs after the list, with the item put in. One module decides
 * how an item is named and how its step is built, so the engine, the planner and `explain` agree.
 */

/** The expression with the item put in: `item` becomes a literal, an item output a fixed output path. */
export function bindItem(e: ValueExpr, item: unknown): ValueExpr {
  switch (e.kind) {
    case "item":
      return { kind: "lit", value: e.path ? pickItem(item, e.path) : item };
    case "itemOutput": {
      const path = evalSync(bindItem(e.path, item), NO_STEPS);
      if (typeof path !== "string" || path === "") {
        throw new InputError(`an output path of this item is ${describe(path)}, not a path`);
      }
      return { kind: "output", path };
    }
    case "list":
      return { kind: "list", items: e.items.map((x) => bindItem(x, item)) };
    case "record": {
      const fields: Record<string, ValueExpr> = Object.create(null);
      for (const k of Object.keys(e.fields)) fields[k] = bindItem(e.fields[k]!, item);
      return { kind: "record", fields };
    }
    case "concat":
      return { ...e, parts: e.parts.map((x) => bindItem(x, item)) };
    case "file":
      return { kind: "file", path: bindItem(e.path, item) };
    case "pathPart": {
      const of = bindItem(e.of, item);
      // Folded now, so a command line holds the text (and an output path can be built from it).
      if (of.kind === "lit") return { kind: "lit", value: pathPartOf(of.value, e.part) };
      return { kind: "pathPart", of, part: e.part };
    }
    case "lines":
      return { ...e, of: bindItem(e.of, item) };
    default:
      return e;
  }
}

/** Output paths are built from the item and literals only: no other step's value is needed. */
const NO_STEPS = {
  root: "/",
  valueOf(id: string): unknown {
    throw new InputError(`an output path cannot use the value of ${id}`);
  },
  digest: () => Promise.reject(new InputError("an output path cannot read files")),
};

function pickItem(item: unknown, path: readonly (string | number)[]): unknown {
  let v = item;
  for (const key of path) {
    const part = pathPartField(v, key);
    if (part !== undefined) {
      v = part;
      continue;
    }
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, key)) {
      throw new InputError(`the item ${describe(item)} has no field "${key}"`);
    }
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

/** Longest key shown as is; longer ones are cut and told apart by a digest. */
const MAX_KEY = 80;

/**
 * The name of an item: a file by its path, a string or number as written, a record by the field the
 * map's `key` names (or its `id`, `key` or `name` field), anything else by a short digest of its
 * content. Never its position: adding an item must not rename the others.
 */
export function itemKey(item: unknown, keyPath?: readonly (string | number)[]): string {
  const v = keyPath ? pickItem(item, keyPath) : item;
  if (isFileValue(v)) return shortKey(v.$file);
  if (typeof v === "string") return shortKey(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (!keyPath && v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const field of ["id", "key", "name"]) {
      const f = (v as Record<string, unknown>)[field];
      if (Object.hasOwn(v, field) && (typeof f === "string" || typeof f === "number"))
        return shortKey(String(f));
    }
  }
  return `#${digestBytes(canonicalJson(v ?? null)).slice(0, 10)}`;
}

function shortKey(s: string): string {
  // Control characters would break a terminal line or a log: shown escaped.
  // eslint-disable-next-line no-control-regex
  const clean = /[\u0000-\u001f\u007f]/.test(s) ? JSON.stringify(s).slice(1, -1) : s;
  if (clean.length <= MAX_KEY) return clean;
  return `${clean.slice(0, MAX_KEY - 12)}…#${digestBytes(s).slice(0, 8)}`;
}

/** The steps of a map's items, or why they cannot run (before any of them starts). */
export function itemSteps(step: Step, list: readonly unknown[]): Step[] {
  const action = step.action as Extract<Step["action"], { kind: "map" }>;
  // A consumer's `partial` is not the items' business.
  const { partial: _partial, ...itemOptions } = step.options;
  const template = step.inputs.slice(1);
  const steps: Step[] = new Array(list.length);
  const seen = new Map<string, number>();
  for (let k = 0; k < list.length; k++) {
    const item = list[k];
    let key: string;
    let inputs: ValueExpr[];
    try {
      key = itemKey(item, action.key);
      inputs = template.map((e) => bindItem(e, item));
    } catch (err) {
      throw new InputError(`item ${k + 1} (${describe(item)}): ${(err as Error).message}`);
    }
    const twin = seen.get(key);
    if (twin !== undefined) {
      throw new InputError(
        `items ${twin + 1} and ${k + 1} are both named "${key}": ${
          action.key ? "the key must tell every item apart" : "give the map a key that tells them apart"
        } (with key: item.field), or remove the duplicate`,
      );
    }
    seen.set(key, k);
    steps[k] = {
      id: `${step.id}[${key}]`,
      module: action.module,
      action: action.item,
      inputs,
      options: itemOptions,
      source: step.source,
    };
  }
  return steps;
}

/**
 * The outputs of each item, checked before any item runs: none may leave the project, and no two items
 * may write the same file (`out/${item.stem}.o` for `a/x.c` and `b/x.c`).
 */
export function itemOutputs(items: readonly Step[], root: string): string[][] {
  const writer = new Map<string, string>();
  return items.map((s) => {
    // Only commands write files; a module's arguments are never output paths.
    if (s.action.kind !== "process") return [];
    let outs: string[];
    try {
      outs = projectOutputs(s, root);
    } catch (err) {
      throw new InputError(`${s.id}: ${(err as Error).message}`);
    }
    for (const o of outs) {
      const other = writer.get(o);
      if (other !== undefined && other !== s.id) {
        throw new InputError(
          `${other} and ${s.id} would both write ${o}: build each item's output path from what tells the items apart (e.g. \${item.path} rather than \${item.name})`,
        );
      }
      writer.set(o, s.id);
    }
    return outs;
  });
}
