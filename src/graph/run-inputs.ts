import type { Graph, Step, ValueExpr } from "./ir.js";

/**
 * A flow loaded once and run many times holds `{ kind: "input" }` placeholders where its per-run inputs
 * are used; each run binds them to that run's values. The template is shared by every run and never
 * changed: a run gets a graph whose steps are the template's own, except those that use an input,
 * which are copied with their placeholders replaced.
 */
export class RunInputTemplate {
  /** Positions (in graph.steps) of the steps that use a per-run input. */
  private readonly sites: number[] = [];

  constructor(readonly graph: Graph) {
    graph.steps.forEach((s, i) => {
      if (s.inputs.some(usesInput)) this.sites.push(i);
    });
  }

  /** The graph of one run; `bound` gives the expression for every input the template uses. */
  bind(bound: ReadonlyMap<string, ValueExpr>): Graph {
    if (this.sites.length === 0) return this.graph;
    const steps = this.graph.steps.slice();
    for (const i of this.sites) {
      const s = steps[i]!;
      steps[i] = { ...s, inputs: s.inputs.map((e) => bindInputs(e, bound)) } satisfies Step;
    }
    return { ...this.graph, steps };
  }
}

/** Replaces the input placeholders inside `e` (a new expression where one was found, else `e` itself). */
export function bindInputs(e: ValueExpr, bound: ReadonlyMap<string, ValueExpr>): ValueExpr {
  switch (e.kind) {
    case "input": {
      const b = bound.get(e.name);
      if (b === undefined) throw new Error(`internal: input ${e.name} has no value for this run`);
      return b;
    }
    case "list":
      return usesInput(e) ? { ...e, items: e.items.map((x) => bindInputs(x, bound)) } : e;
    case "record": {
      if (!usesInput(e)) return e;
      const fields: Record<string, ValueExpr> = Object.create(null);
      for (const k of Object.keys(e.fields)) fields[k] = bindInputs(e.fields[k]!, bound);
      return { ...e, fields };
    }
    case "concat":
      return usesInput(e) ? { ...e, parts: e.parts.map((x) => bindInputs(x, bound)) } : e;
    case "file":
      return usesInput(e) ? { ...e, path: bindInputs(e.path, bound) } : e;
    case "pathPart":
    case "lines":
      return usesInput(e) ? { ...e, of: bindInputs(e.of, bound) } : e;
    case "itemOutput":
      return usesInput(e) ? { ...e, path: bindInputs(e.path, bound) } : e;
    default:
      return e;
  }
}

/** The names of the input placeholders inside an expression, in order. */
export function inputsIn(e: ValueExpr): string[] {
  const names: string[] = [];
  visitInputs(e, (name) => void names.push(name));
  return names;
}

/** Whether an expression holds an input placeholder. */
export function usesInput(e: ValueExpr): boolean {
  return inputIn(e) !== undefined;
}

/** The name of the first input placeholder inside an expression, if any. */
export function inputIn(e: ValueExpr): string | undefined {
  let first: string | undefined;
  visitInputs(e, (name) => {
    first = name;
    return true;
  });
  return first;
}

/** Calls `visit` with each placeholder's name until it returns true; true when it did. */
function visitInputs(e: ValueExpr, visit: (name: string) => boolean | void): boolean {
  switch (e.kind) {
    case "input":
      return visit(e.name) === true;
    case "list":
      return e.items.some((x) => visitInputs(x, visit));
    case "record":
      return Object.values(e.fields).some((x) => visitInputs(x, visit));
    case "concat":
      return e.parts.some((x) => visitInputs(x, visit));
    case "file":
    case "itemOutput":
      return visitInputs(e.path, visit);
    case "pathPart":
    case "lines":
      return visitInputs(e.of, visit);
    default:
      return false;
  }
}
