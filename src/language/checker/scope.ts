import type { SourceSpan, Step, StepId, ValueExpr } from "../../graph/ir.js";
import { WITH_OPTIONS, type WithOption } from "../../graph/options.js";
import { inputIn } from "../../graph/run-inputs.js";
import type { Expr, OptionNode, Span, Statement } from "../ast.js";
import type { DiagnosticSink } from "../diagnostics.js";
import { BUILTINS, type FlowModule } from "../modules.js";
import { T, type Type } from "../types.js";
import { suggest } from "./hints.js";
import { ModuleLimitSet } from "./limits.js";

export type AssignStmt = Extract<Statement, { kind: "assign" }>;
export type InputStmt = Extract<Statement, { kind: "input" }>;
export type CallExpr = Extract<Expr, { kind: "call" }>;
export type ForExpr = Extract<Expr, { kind: "for" }>;

export interface InputInfo {
  name: string;
  /** The declared type, as written in the language (`List<String>`). */
  type: string;
  /** The declared type. */
  spec: Type;
  /**
   * Compiled with `perRunInputs` and not given: what stands for it when a run gives none (its default,
   * which may use earlier inputs' placeholders, or null for an Optional); undefined when it is required.
   */
  perRun?: { default?: ValueExpr };
  /** Source text of the default, when there is one. */
  default?: string;
  required: boolean;
  source: SourceSpan;
}

/** What a caller (the CLI) needs to know about a flow, even when it has errors. */
export interface FlowInfo {
  file: string;
  /** Absolute project root: relative paths in the flow (file, glob, output) are relative to it. */
  root: string;
  inputs: InputInfo[];
  /** Step ids listed by `out` (empty: every sink is an output). */
  outputs: StepId[];
  /** The type of each step listed by `out`. */
  outputTypes: Record<StepId, Type>;
  /** Absolute paths of the module files the flow uses. */
  modules: string[];
  /** The paths of `file("...")` inputs written as literals (that no step writes), as written. */
  inputFiles: string[];
  /** The patterns of `glob("...")` inputs. */
  inputGlobs: string[];
  /** Where every step comes from. */
  steps: Record<StepId, SourceSpan>;
  pools: Record<string, number>;
}

/** The input files and glob patterns a flow names with literals, and where. */
export interface LiteralInputs {
  /** `file("...")` paths (normalized) that no step of the flow writes. */
  files: { path: string; span: Span }[];
  globs: { pattern: string; span: Span }[];
}

export interface CheckInput {
  statements: Statement[];
  modules: Map<string, FlowModule>;
  /** Some `use` failed: calls to unknown modules are not reported (they likely come from that file). */
  modulesFailed: boolean;
  inputs: Record<string, unknown>;
  /**
   * Inputs not given in `inputs` are given per run: the graph holds `{ kind: "input" }` placeholders
   * for them (see graph/run-inputs.ts) instead of their values, and a missing one is not an error.
   */
  perRunInputs?: boolean;
  file: string;
  /** The `with` options there are: the graph's table, unless a test narrows it. */
  withOptions?: readonly WithOption[];
}

export type Binding =
  | { kind: "input"; name: string; stmt: InputStmt; type: Type; expr: ValueExpr; resolved: boolean }
  | { kind: "step"; name: string; stmt: AssignStmt; type: Type; isMap: boolean }
  | { kind: "value"; name: string; stmt: AssignStmt; type: Type; expr: ValueExpr; state: 0 | 1 | 2 };

export interface Compiled {
  expr: ValueExpr;
  type: Type;
  /** An error was already reported inside: do not pile on. */
  bad?: boolean;
}

export interface Ctx {
  /** Name of the statement being compiled: nested steps are `owner.1`, `owner.2`, ... */
  owner: string;
  counter: { n: number };
  /** The step whose inputs are being compiled (undefined for values and input defaults). */
  step?: { id: string; outputs: string[]; mapRefs: number };
  /** Inside the arguments of exec() or sh(). */
  allowOutput: boolean;
  /** The step consumes maps partially: references to map steps have the { ok, failed } type. */
  partial: boolean;
  /** An input default or a pool size: only literals and earlier inputs. */
  constOnly: boolean;
  /** An input's default: it may use earlier inputs also when they are given per run. */
  inputDefault?: boolean;
  /** Inside the call of a `for`: the item's name and type. */
  item?: { name: string; type: Type };
}

export const ERR: Compiled = { expr: { kind: "lit", value: null }, type: T.Any, bad: true };

/**
 * What every pass of the checker shares: the flow's names and what was declared or built so far. The
 * checker is a stack of classes, one per concern (file built-ins, expressions, `with` options, calls,
 * declarations, lowering), each extending the one below, so that the passes call one another along
 * `this` while every import points down the stack. Expressions and steps are mutually recursive (a
 * nested call is a step, a step's arguments are expressions): the two methods are declared here.
 */
export abstract class CheckScope {
  protected readonly bindings = new Map<string, Binding>();
  protected readonly pools = new Map<string, { size: number; span: Span }>();
  protected readonly steps: Step[] = [];
  protected readonly stepSpans = new Map<StepId, Span>();
  protected readonly limits: ModuleLimitSet;
  protected readonly outputPaths = new Map<string, { step: StepId; span: Span }>();
  protected readonly fileLiterals: { path: string; span: Span; step?: StepId }[] = [];
  /** The pattern of every `glob("...")`, where it is written. */
  protected readonly globLiterals: { pattern: string; span: Span }[] = [];
  protected readonly usedModules = new Set<string>();
  protected readonly outputs: StepId[] = [];
  protected hasOut = false;
  protected readonly inputInfo: InputInfo[] = [];
  protected readonly outputTypes: Record<StepId, Type> = Object.create(null);
  /** The option table by name. */
  protected readonly withOptions: ReadonlyMap<string, WithOption>;
  /**
   * Names "did you mean" may still compare: each comparison costs an edit distance, so a flow of
   * thousands of unknown names among thousands of names would be quadratic. Past it, no suggestion.
   */
  private suggestBudget = 200_000;

  constructor(
    protected readonly sink: DiagnosticSink,
    protected readonly source: string,
    protected readonly input: CheckInput,
  ) {
    this.limits = new ModuleLimitSet(sink);
    this.withOptions = new Map((input.withOptions ?? WITH_OPTIONS).map((o) => [o.name, o]));
  }

  /** Compiles an expression to a value expression and its type (reporting every problem inside). */
  protected abstract compileExpr(e: Expr, ctx: Ctx, optionMode?: boolean): Compiled;

  /** Creates the step for a call of a module, exec, sh or map; returns its value's type. */
  protected abstract buildStep(
    id: StepId,
    call: CallExpr | ForExpr,
    parent: Ctx,
    span: Span,
    diagSpan: Span,
    options: OptionNode[],
  ): { type: Type; isMap: boolean };

  /** A context for values known before the run: input defaults, pool sizes, option values. */
  protected constCtx(owner: string): Ctx {
    return { owner, counter: { n: 0 }, allowOutput: false, partial: false, constOnly: true };
  }

  /**
   * Reports an expression that must be known before the run but uses an input given per run; true when
   * it did. `what` names the place: "an output path", "a glob pattern".
   */
  protected perRunInputIn(expr: ValueExpr, what: string, at: Span): boolean {
    const name = inputIn(expr);
    if (name === undefined) return false;
    this.sink.error("per-run-input", perRunInputMessage(name, what), at.start, at.end, perRunInputHint(name));
    return true;
  }

  /** "did you mean X?" among `candidates` (`size` of them), while the budget lasts. */
  protected nearest(name: string, candidates: Iterable<string>, size: number): string | undefined {
    if (size > this.suggestBudget) return undefined;
    this.suggestBudget -= size;
    return suggest(name, candidates);
  }

  /** The module a call names; reported (with a suggestion) when there is none. */
  protected lookupModule(name: string, at: Span, called: boolean): FlowModule | undefined {
    const mod = this.input.modules.get(name);
    if (mod) return mod;
    const b = this.bindings.get(name);
    if (b) {
      this.sink.error(
        "not-callable",
        `${name} is ${b.kind === "input" ? "an input" : "a value"}, not a module`,
        at.start,
        at.end,
        this.nearest(name, this.input.modules.keys(), this.input.modules.size) ??
          (called
            ? "only modules from use files and built-ins can be called"
            : "name a module from a use file"),
      );
      return undefined;
    }
    if (this.input.modulesFailed) return undefined;
    const candidates = called ? [...this.input.modules.keys(), ...BUILTINS] : [...this.input.modules.keys()];
    this.sink.error(
      "unknown-module",
      `unknown module ${name}`,
      at.start,
      at.end,
      this.nearest(name, candidates, candidates.length) ??
        (this.input.modules.size === 0 ? 'import modules with use "./modules.ts"' : undefined),
    );
    return undefined;
  }
}

export function perRunInputMessage(name: string, what: string): string {
  return `${what} must be known when the flow is loaded, but input ${name} is given per run`;
}

export function perRunInputHint(name: string): string {
  return `fix it when loading the flow: tributary serve --input ${name}=..., or loadFlow(file, { fixed: { ${name}: ... } })`;
}
