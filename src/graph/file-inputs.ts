import type { ValueExpr } from "./ir.js";

/**
 * The files an expression reads, as the graph says before anything runs: each `file(...)` (its path when
 * it is a literal, undefined when it is computed) and each `glob(...)` pattern, in order. The one walk
 * for everyone who needs to know what a run will read without running it: the record of a null run
 * (snapshot-scope.ts) and the watcher of `run --watch`.
 */
export type FileInput = { kind: "file"; path: string | undefined } | { kind: "glob"; pattern: string };

/** Calls `visit` for every file input of `e`; stops and returns what `visit` returns when it is not undefined. */
export function forEachFileInput<T>(e: ValueExpr, visit: (input: FileInput) => T | undefined): T | undefined {
  switch (e.kind) {
    case "file":
      return visit({
        kind: "file",
        path: e.path.kind === "lit" && typeof e.path.value === "string" ? e.path.value : undefined,
      });
    case "glob":
      return visit({ kind: "glob", pattern: e.pattern });
    case "list":
      return first(e.items, visit);
    case "record":
      return first(Object.values(e.fields), visit);
    case "concat":
      return first(e.parts, visit);
    case "pathPart":
    case "lines":
      return forEachFileInput(e.of, visit);
    case "itemOutput":
      return undefined;
    default:
      return undefined;
  }
}

function first<T>(list: readonly ValueExpr[], visit: (input: FileInput) => T | undefined): T | undefined {
  for (const x of list) {
    const r = forEachFileInput(x, visit);
    if (r !== undefined) return r;
  }
  return undefined;
}
