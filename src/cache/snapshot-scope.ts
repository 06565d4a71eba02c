import type { Graph, ValueExpr } from "../graph/ir.js";
import { projectOutputs } from "../graph/eval.js";

/**
 * What a run snapshot (run-snapshot.ts) of a graph has to watch. Apart from the record itself so that
 * checking a record does not load the engine's value code.
 */

export interface SnapshotScope {
  /** Every input and output file, relative to the root (or absolute). */
  files: string[];
  /** The env vars the steps declare. */
  env: string[];
}

/** The files a snapshot would have to watch, or why this graph cannot have one. */
export function snapshotScope(graph: Graph, root: string): SnapshotScope | { reason: string } {
  const files = new Set<string>();
  const env = new Set<string>();
  for (const step of graph.steps) {
    const a = step.action;
    if (a.kind !== "process") return { reason: `${step.id} is not a command` };
    if (step.options.cache === false) return { reason: `${step.id} is not cached` };
    for (const name of step.options.env ?? []) env.add(name);
    for (const input of step.inputs) {
      const why = literalFiles(input, files);
      if (why) return { reason: `${step.id}: ${why}` };
    }
    try {
      for (const o of projectOutputs(step, root)) files.add(o);
    } catch (err) {
      return { reason: (err as Error).message };
    }
  }
  return { files: [...files], env: [...env] };
}

function literalFiles(e: ValueExpr, out: Set<string>): string | undefined {
  switch (e.kind) {
    case "file":
      if (e.path.kind !== "lit" || typeof e.path.value !== "string") return "a computed file() path";
      out.add(e.path.value);
      return undefined;
    case "glob":
      return "glob() can match new files";
    case "list":
      for (const x of e.items) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    case "record":
      for (const x of Object.values(e.fields)) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    case "concat":
      for (const x of e.parts) {
        const why = literalFiles(x, out);
        if (why) return why;
      }
      return undefined;
    default:
      return undefined;
  }
}
