import type { Graph, ValueExpr } from "../graph/ir.js";
import { projectOutputs } from "../graph/eval.js";
import { forEachFileInput } from "../graph/file-inputs.js";

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

/** Adds the literal file inputs of `e` to `out`; says why when `e` reads files a record cannot watch. */
function literalFiles(e: ValueExpr, out: Set<string>): string | undefined {
  return forEachFileInput(e, (input) => {
    if (input.kind === "glob") return "glob() can match new files";
    if (input.path === undefined) return "a computed file() path";
    out.add(input.path);
    return undefined;
  });
}
