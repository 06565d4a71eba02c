import type { Graph, SourceSpan, Step, StepId } from "../../graph/ir.js";
import type { Span, Statement } from "../ast.js";
import { DeclarationChecker } from "./declarations.js";
import type { FlowInfo, LiteralInputs } from "./scope.js";
import { identity } from "./step-types.js";

/**
 * Names, types, options and outputs of a parsed flow, compiled to the graph IR in one pass. Every error
 * goes to the sink; the graph is built even then (with placeholder actions) so that cycles are found in
 * the same run.
 */
export class Checker extends DeclarationChecker {
  run(): {
    graph: Graph;
    info: Omit<FlowInfo, "root" | "modules" | "inputFiles" | "inputGlobs">;
    inputs: LiteralInputs;
  } {
    const { statements } = this.input;
    this.declare(statements);
    this.resolveInputs(statements);
    this.declarePools(statements);
    this.compileValues();
    for (const s of statements) {
      if (s.kind !== "assign") continue;
      const b = this.bindings.get(s.name);
      if (b?.kind === "step" && b.stmt === s) this.compileStepBinding(b);
    }
    for (const s of statements) if (s.kind === "out") this.compileOut(s);
    this.checkFileLiterals();

    // Lowering: what was built and declared, as the graph IR.
    const limits = this.limits.lower([...this.usedModules].map((name) => this.input.modules.get(name)!));
    // Tables keyed by the user's names have no prototype: `__proto__` or `constructor` are just names.
    const pools: Record<string, number> = Object.create(null);
    for (const [name, p] of this.pools) pools[name] = p.size;
    for (const step of this.steps) compactInputs(step);
    const graph: Graph = { steps: this.steps, pools, limits };
    if (this.hasOut) graph.outputs = this.outputs;
    const info = {
      file: this.input.file,
      inputs: this.inputInfo,
      outputs: this.outputs,
      outputTypes: this.outputTypes,
      pools,
    } as Omit<FlowInfo, "root" | "modules" | "inputFiles" | "inputGlobs">;
    defineStepSpans(info, this.steps);
    return { graph, info, inputs: this.literalInputs() };
  }

  /** The span (offsets) a step's diagnostics point at. */
  spanOfStep(id: StepId): Span | undefined {
    return this.stepSpans.get(id);
  }

  /** The names in `outputs`, for a constant-time "listed already?" (out lines may list thousands). */
  private readonly outputSet = new Set<StepId>();

  protected compileOut(s: Extract<Statement, { kind: "out" }>): void {
    for (const { name, span } of s.names) {
      if (this.outputSet.has(name)) continue;
      const b = this.bindings.get(name);
      if (!b) {
        this.sink.error(
          "unknown-name",
          `unknown name ${name} in out`,
          span.start,
          span.end,
          this.nearest(name, this.bindings.keys(), this.bindings.size) ??
            (this.input.modules.has(name) ? "out lists values, not modules" : undefined),
        );
        continue;
      }
      if (b.kind !== "step") {
        // A value (or an input) that is an output: a tiny step that passes it on.
        const at = b.kind === "input" ? b.stmt.nameSpan : { start: b.stmt.start, end: b.stmt.value.end };
        this.steps.push({
          id: name,
          module: "value",
          action: { kind: "function", fn: identity },
          inputs: [b.expr],
          options: { cache: false },
          source: this.sink.lines.span(this.input.file, at.start, at.end),
        });
        this.stepSpans.set(name, b.stmt.nameSpan);
      }
      this.outputs.push(name);
      this.outputSet.add(name);
      this.outputTypes[name] = b.type;
    }
  }
}

/**
 * `info.steps`, built on first use: a 10,000-key record costs more than the rest of a small check. Defined
 * outside the Checker so that the getter holds only the steps: a closure made in a method would share
 * its context with the method's other closures, which hold `this`, and with it the whole AST and every
 * binding for as long as the info lives (a run keeps it to the end).
 */
function defineStepSpans(info: object, steps: Graph["steps"]): void {
  let memo: Record<StepId, SourceSpan> | undefined;
  Object.defineProperty(info, "steps", {
    enumerable: true,
    configurable: true,
    get: () => {
      if (!memo) {
        memo = Object.create(null) as Record<StepId, SourceSpan>;
        for (const s of steps) if (s.source) memo[s.id] = s.source;
      }
      return memo;
    },
  });
}

/**
 * Gives a step's input arrays (and a command template's parts) their exact length. An array grown by
 * `push` keeps room for 16 elements, about 150 bytes where 2 or 3 inputs need 40: the graph lives for the
 * whole run, and 10,000 steps held 3 MiB of that slack.
 */
function compactInputs(step: Step): void {
  step.inputs = step.inputs.slice();
  for (const e of step.inputs) if (e.kind === "concat") e.parts = e.parts.slice();
}
