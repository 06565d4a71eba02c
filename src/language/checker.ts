import { posix } from "node:path";
import type {
  Backoff,
  Graph,
  ModuleLimits,
  Rate,
  SourceSpan,
  Step,
  StepAction,
  StepFn,
  StepId,
  StepOptions,
  ValueExpr,
} from "../graph/ir.js";
import { suggest as editSuggest } from "../graph/topology.js";
import { DEFAULT_BACKOFF } from "../engine/retry.js";
import type { Expr, OptionNode, Span, Statement } from "./ast.js";
import type { DiagnosticSink } from "./diagnostics.js";
import { BUILTINS, type FlowModule } from "./modules.js";
import { BACKOFF_FIELDS, OPTION_NAMES, OPTION_SHAPES, PRIORITY_WORDS, type OptionName } from "./options.js";
import {
  T,
  assignable,
  checkValue,
  fieldType,
  join,
  showType,
  typeFromNode,
  whyNotAssignable,
  type Type,
} from "./types.js";

type AssignStmt = Extract<Statement, { kind: "assign" }>;
type InputStmt = Extract<Statement, { kind: "input" }>;
type CallExpr = Extract<Expr, { kind: "call" }>;

export interface InputInfo {
  name: string;
  /** The declared type, as written in the language (`List<String>`). */
  type: string;
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
  /** Absolute paths of the module files the flow uses. */
  modules: string[];
  /** Where every step comes from. */
  steps: Record<StepId, SourceSpan>;
  pools: Record<string, number>;
}

type Binding =
  | { kind: "input"; name: string; stmt: InputStmt; type: Type; expr: ValueExpr; resolved: boolean }
  | { kind: "step"; name: string; stmt: AssignStmt; type: Type; isMap: boolean }
  | { kind: "value"; name: string; stmt: AssignStmt; type: Type; expr: ValueExpr; state: 0 | 1 | 2 };

interface Compiled {
  expr: ValueExpr;
  type: Type;
  /** An error was already reported inside: do not pile on. */
  bad?: boolean;
}

interface Ctx {
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
}

const ERR: Compiled = { expr: { kind: "lit", value: null }, type: T.Any, bad: true };

const PARTIAL_FAILURE = T.record({ index: T.Int, item: T.Any, status: T.String, error: T.Any });

const identity: StepFn = function value(v: unknown) {
  return v;
};

/** Whether a call makes a step (as opposed to a value like file(...)). */
const STEP_BUILTINS = new Set(["exec", "sh", "map"]);
const VALUE_BUILTINS = new Set(["file", "glob", "output"]);

export interface CheckInput {
  statements: Statement[];
  modules: Map<string, FlowModule>;
  /** Some `use` failed: calls to unknown modules are not reported (they likely come from that file). */
  modulesFailed: boolean;
  inputs: Record<string, unknown>;
  file: string;
}

/**
 * Names, types, options and outputs of a parsed flow, compiled to the graph IR in one pass. Every error
 * goes to the sink; the graph is built even then (with placeholder actions) so that cycles are found in
 * the same run.
 */
export class Checker {
  private readonly bindings = new Map<string, Binding>();
  private readonly pools = new Map<string, { size: number; span: Span }>();
  private readonly steps: Step[] = [];
  private readonly stepSpans = new Map<StepId, Span>();
  private readonly limitSet = new Map<string, { value: number | Rate; span: Span }>();
  private readonly outputPaths = new Map<string, { step: StepId; span: Span }>();
  private readonly fileLiterals: { path: string; span: Span; step?: StepId }[] = [];
  private readonly usedModules = new Set<string>();
  private readonly outputs: StepId[] = [];
  private hasOut = false;
  private readonly inputInfo: InputInfo[] = [];

  constructor(
    private readonly sink: DiagnosticSink,
    private readonly source: string,
    private readonly input: CheckInput,
  ) {}

  run(): { graph: Graph; info: Omit<FlowInfo, "root" | "modules"> } {
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

    const limits: Record<string, ModuleLimits> = {};
    for (const name of this.usedModules) {
      const m = this.input.modules.get(name)!;
      if (m.concurrency !== undefined) (limits[name] ??= {}).concurrency = m.concurrency;
      if (m.rate !== undefined) (limits[name] ??= {}).rate = m.rate;
    }
    for (const [key, { value }] of this.limitSet) {
      const [module, what] = key.split("\0") as [string, string];
      if (what === "concurrency") (limits[module] ??= {}).concurrency = value as number;
      else (limits[module] ??= {}).rate = value as Rate;
    }
    const pools: Record<string, number> = {};
    for (const [name, p] of this.pools) pools[name] = p.size;
    const graph: Graph = { steps: this.steps, pools, limits };
    if (this.hasOut) graph.outputs = this.outputs;
    const info = { file: this.input.file, inputs: this.inputInfo, outputs: this.outputs, pools } as Omit<
      FlowInfo,
      "root" | "modules"
    >;
    // Built on first use: a 10,000-key record costs more than the rest of a small check.
    const steps = this.steps;
    let memo: Record<StepId, SourceSpan> | undefined;
    Object.defineProperty(info, "steps", {
      enumerable: true,
      configurable: true,
      get: () => {
        if (!memo) {
          memo = {};
          for (const s of steps) if (s.source) memo[s.id] = s.source;
        }
        return memo;
      },
    });
    return { graph, info };
  }

  /** The span (offsets) a step's diagnostics point at. */
  spanOfStep(id: StepId): Span | undefined {
    return this.stepSpans.get(id);
  }

  // ---- declarations -----------------------------------------------------------------------------

  private declare(statements: Statement[]): void {
    for (const s of statements) {
      switch (s.kind) {
        case "input":
        case "assign": {
          const prev = this.bindings.get(s.name);
          if (prev) {
            const { line } = this.sink.lines.position(prev.stmt.start);
            this.sink.error(
              "duplicate-name",
              `${s.name} is already defined on line ${line}`,
              s.nameSpan.start,
              s.nameSpan.end,
              "every name is assigned once; rename one of them",
            );
            continue;
          }
          if (s.kind === "input") {
            this.bindings.set(s.name, {
              kind: "input",
              name: s.name,
              stmt: s,
              type: T.Any,
              expr: ERR.expr,
              resolved: false,
            });
          } else if (this.isStepCall(s.value)) {
            const call = s.value as CallExpr;
            this.bindings.set(s.name, {
              kind: "step",
              name: s.name,
              stmt: s,
              type: this.stepResultType(call),
              isMap: call.callee === "map",
            });
          } else {
            this.bindings.set(s.name, {
              kind: "value",
              name: s.name,
              stmt: s,
              type: T.Any,
              expr: ERR.expr,
              state: 0,
            });
            if (s.withSpan) {
              this.sink.error(
                "options-on-value",
                `with options apply to steps, but ${s.name} is a value, not a step`,
                s.withSpan.start,
                s.options.at(-1)?.value.end ?? s.withSpan.end,
                "options go on calls of modules, exec(), sh() or map()",
              );
            }
          }
          break;
        }
        case "pool":
          break; // after the inputs: a capacity may be an input
        case "out":
          this.hasOut = true;
          break;
        case "use":
          break;
      }
    }
  }

  private declarePools(statements: Statement[]): void {
    for (const s of statements) {
      if (s.kind !== "pool") continue;
      if (this.pools.has(s.name)) {
        const { line } = this.sink.lines.position(this.pools.get(s.name)!.span.start);
        this.sink.error(
          "duplicate-pool",
          `pool ${s.name} is already declared on line ${line}`,
          s.nameSpan.start,
          s.nameSpan.end,
        );
        continue;
      }
      const c = this.compileExpr(s.size, this.constCtx(s.name));
      const size = c.expr.kind === "lit" ? c.expr.value : undefined;
      if (!c.bad && !(Number.isInteger(size) && (size as number) >= 1)) {
        this.sink.error(
          "bad-pool",
          `pool ${s.name} needs a capacity of at least 1, got ${describeValue(c, s.size)}`,
          s.size.start,
          s.size.end,
          `write: pool ${s.name} = 4`,
        );
      }
      this.pools.set(s.name, {
        size: Number.isInteger(size) && (size as number) >= 1 ? (size as number) : 1,
        span: s.nameSpan,
      });
    }
  }

  private isStepCall(e: Expr): boolean {
    if (e.kind !== "call") return false;
    if (STEP_BUILTINS.has(e.callee)) return true;
    if (VALUE_BUILTINS.has(e.callee)) return false;
    // Unknown callees count as steps, so that one misspelt module does not cascade into other errors.
    const b = this.bindings.get(e.callee);
    return b === undefined || this.input.modules.has(e.callee);
  }

  /** The type a step's value will have; known from the callee alone, so no ordering is needed. */
  private stepResultType(call: CallExpr): Type {
    switch (call.callee) {
      case "exec":
      case "sh": {
        const n = countOutputs(call.args);
        return n === 0 ? T.String : n === 1 ? T.File : T.list(T.File);
      }
      case "map": {
        const m = call.args[1];
        const mod = m?.kind === "ident" ? this.input.modules.get(m.name) : undefined;
        return T.list(mod?.result ?? T.Any);
      }
      default:
        return this.input.modules.get(call.callee)?.result ?? T.Any;
    }
  }

  private constCtx(owner: string): Ctx {
    return { owner, counter: { n: 0 }, allowOutput: false, partial: false, constOnly: true };
  }

  // ---- inputs -----------------------------------------------------------------------------------

  private resolveInputs(statements: Statement[]): void {
    const given = this.input.inputs;
    const declared = new Set<string>();
    for (const s of statements) {
      if (s.kind !== "input") continue;
      declared.add(s.name);
      const b = this.bindings.get(s.name);
      const type = typeFromNode(s.type, this.sink);
      const span = this.sink.lines.span(this.input.file, s.start, s.end);
      const info: InputInfo = { name: s.name, type: showType(type), required: false, source: span };
      if (s.default) info.default = this.source.slice(s.default.start, s.default.end);
      let expr: ValueExpr = ERR.expr;
      let dflt: Compiled | undefined;
      if (s.default) {
        dflt = this.compileExpr(s.default, this.constCtx(s.name));
        if (!dflt.bad && !assignable(dflt.type, type)) {
          this.sink.error(
            "type-mismatch",
            `the default of ${s.name} must be ${showType(type)}, got ${showType(dflt.type)}`,
            s.default.start,
            s.default.end,
            whyNotAssignable(dflt.type, type),
          );
        }
      }
      if (Object.prototype.hasOwnProperty.call(given, s.name)) {
        const raw = given[s.name];
        const conv = convertInput(raw, type);
        if (conv.error !== undefined) {
          this.sink.error(
            "bad-input",
            `input ${s.name}: ${conv.error}`,
            s.nameSpan.start,
            s.nameSpan.end,
            `${s.name} is declared as ${showType(type)}`,
          );
        } else {
          expr = valueToExpr(conv.value, type);
        }
      } else if (dflt) {
        expr = dflt.expr;
      } else if (type.kind === "Optional") {
        expr = { kind: "lit", value: null };
      } else {
        info.required = true;
        this.sink.error(
          "missing-input",
          `input ${s.name} is required, but no value was given`,
          s.nameSpan.start,
          s.nameSpan.end,
          `pass it with --input ${s.name}=..., or give it a default: in ${s.name}: ${this.source.slice(s.type.start, s.type.end)} = ...`,
        );
      }
      if (!s.default && type.kind !== "Optional") info.required = true;
      this.inputInfo.push(info);
      if (b?.kind === "input" && b.stmt === s) {
        b.type = type;
        b.expr = expr;
        b.resolved = true;
      }
    }
    const firstInput = statements.find((s) => s.kind === "input") as InputStmt | undefined;
    for (const name of Object.keys(given)) {
      if (declared.has(name)) continue;
      const hint = suggest(name, declared);
      const near = hint
        ? (statements.find((s) => s.kind === "input" && hint.includes(` ${s.name}?`)) as InputStmt)
        : firstInput;
      const at = near?.nameSpan ?? { start: 0, end: 0 };
      this.sink.error(
        "unknown-input",
        `unknown input ${JSON.stringify(name)} was given`,
        at.start,
        at.end,
        hint ??
          (declared.size === 0
            ? "this flow declares no inputs"
            : `declared inputs: ${[...declared].join(", ")}`),
      );
    }
  }

  // ---- values (assignments that are not steps) --------------------------------------------------

  /** Compiles value bindings in dependency order (iteratively: deep chains must not blow the stack). */
  private compileValues(): void {
    const values: Extract<Binding, { kind: "value" }>[] = [];
    for (const b of this.bindings.values()) if (b.kind === "value") values.push(b);
    if (values.length === 0) return;
    const index = new Map<string, number>();
    values.forEach((b, i) => index.set(b.name, i));
    const deps: number[][] = values.map((b) => {
      const names: string[] = [];
      collectIdents(b.stmt.value, names);
      const out: number[] = [];
      for (const n of names) {
        const j = index.get(n);
        if (j !== undefined && !out.includes(j)) out.push(j);
      }
      return out;
    });
    const indeg = deps.map((d) => d.length);
    const users: number[][] = values.map(() => []);
    deps.forEach((d, i) => d.forEach((j) => users[j]!.push(i)));
    const order: number[] = [];
    for (let i = 0; i < values.length; i++) if (indeg[i] === 0) order.push(i);
    for (let k = 0; k < order.length; k++) {
      for (const u of users[order[k]!]!) if (--indeg[u]! === 0) order.push(u);
    }
    for (const i of order) this.compileValue(values[i]!);
    if (order.length === values.length) return;
    // What is left sits on or behind a cycle of values. Report each cycle once, then compile the rest.
    const done = new Uint8Array(values.length);
    for (const i of order) done[i] = 1;
    for (let start = 0; start < values.length; start++) {
      if (done[start]) continue;
      // Walk dependencies that are not done until a value repeats: that loop is a cycle.
      const seenAt = new Map<number, number>();
      const path: number[] = [];
      let v = start;
      while (!seenAt.has(v)) {
        seenAt.set(v, path.length);
        path.push(v);
        const next = deps[v]!.find((j) => !done[j]);
        if (next === undefined) break;
        v = next;
      }
      if (seenAt.has(v) && deps[path[path.length - 1]!]!.includes(v)) {
        const cycle = path.slice(seenAt.get(v)!);
        // Data-flow order: a producer before its consumer.
        const names = cycle.map((i) => values[i]!.name).reverse();
        const first = values[cycle[cycle.length - 1]!]!;
        this.sink.error(
          "cycle",
          `cycle: ${[...names, names[0]].join(" -> ")}`,
          first.stmt.nameSpan.start,
          first.stmt.nameSpan.end,
          "a value cannot depend on itself; break one of these uses",
        );
        for (const i of cycle) {
          values[i]!.state = 2;
          done[i] = 1;
        }
      }
      for (const i of path) {
        if (!done[i]) {
          this.compileValue(values[i]!);
          done[i] = 1;
        }
      }
    }
  }

  private compileValue(b: Extract<Binding, { kind: "value" }>): void {
    if (b.state !== 0) return;
    b.state = 1;
    const ctx: Ctx = {
      owner: b.name,
      counter: { n: 0 },
      allowOutput: false,
      partial: false,
      constOnly: false,
    };
    const c = this.compileExpr(b.stmt.value, ctx);
    b.expr = c.expr;
    b.type = c.type;
    b.state = 2;
  }

  // ---- steps ------------------------------------------------------------------------------------

  private compileStepBinding(b: Extract<Binding, { kind: "step" }>): void {
    const s = b.stmt;
    const call = s.value as CallExpr;
    const ctx: Ctx = {
      owner: b.name,
      counter: { n: 0 },
      allowOutput: false,
      partial: false,
      constOnly: false,
    };
    const span = { start: s.start, end: call.end };
    const built = this.buildStep(b.name, call, ctx, span, s.nameSpan, s.options);
    b.type = built.type;
  }

  /** Creates the step for a call of a module, exec, sh or map; returns its value's type. */
  private buildStep(
    id: StepId,
    call: CallExpr,
    parent: Ctx,
    span: Span,
    diagSpan: Span,
    options: OptionNode[],
  ): { type: Type; isMap: boolean } {
    const partial = options.some((o) => o.name === "partial" && o.value.kind === "bool" && o.value.value);
    const ctx: Ctx = {
      owner: parent.owner,
      counter: parent.counter,
      step: { id, outputs: [], mapRefs: 0 },
      allowOutput: false,
      partial,
      constOnly: false,
    };
    this.stepSpans.set(id, diagSpan);
    let module: string;
    let action: StepAction;
    let inputs: ValueExpr[];
    let type: Type;
    let limitModule: string;
    let version: string | undefined;
    let isMap = false;
    switch (call.callee) {
      case "exec": {
        ctx.allowOutput = true;
        module = limitModule = "exec";
        action = { kind: "process" };
        inputs = [];
        if (call.args.length === 0) {
          this.sink.error(
            "arity",
            "exec needs at least the program to run",
            call.start,
            call.end,
            'write: exec("cc", "-c", file("a.c"))',
          );
        }
        call.args.forEach((a, i) => {
          const c = this.compileExpr(a, ctx);
          inputs.push(c.expr);
          if (!c.bad && !isWordType(c.type)) {
            this.sink.error(
              "type-mismatch",
              `exec arguments must be text, numbers, files or lists of them, got ${showType(c.type)}`,
              a.start,
              a.end,
              'turn it into text with "${...}"',
            );
          }
          if (i === 0 && !c.bad && c.type.kind === "File") {
            this.sink.warning(
              "program-file",
              "a file as the program is looked up on PATH, not in the project",
              a.start,
              a.end,
              'run a file the project built with "./${...}"',
            );
          }
        });
        type = outputsType(ctx.step!.outputs.length);
        break;
      }
      case "sh": {
        ctx.allowOutput = true;
        module = limitModule = "sh";
        action = { kind: "process", shell: true };
        const tpl = call.args[0];
        inputs = [];
        if (!tpl || tpl.kind !== "string") {
          this.sink.error(
            "sh-template",
            "sh needs a command template: a string literal",
            tpl?.start ?? call.start,
            tpl?.end ?? call.end,
            'write: sh("sort ${file("in.txt")} > ${output("out.txt")}")',
          );
          if (tpl) this.compileExpr(tpl, ctx);
        } else {
          const parts: ValueExpr[] = [];
          for (const p of tpl.parts) {
            // Template text is the only part the engine leaves unquoted; every value is quoted.
            if (typeof p === "string") parts.push({ kind: "lit", value: p, raw: true });
            else parts.push(this.compileExpr(p, ctx).expr);
          }
          inputs.push({ kind: "concat", parts, quote: "shell" });
        }
        for (const extra of call.args.slice(1)) {
          this.sink.error(
            "arity",
            "sh takes a single command template; put values into it with ${...}",
            extra.start,
            extra.end,
          );
          this.compileExpr(extra, ctx);
        }
        type = outputsType(ctx.step!.outputs.length);
        break;
      }
      case "map": {
        isMap = true;
        module = "map";
        const built = this.buildMap(call, ctx);
        action = built.action;
        inputs = built.inputs;
        type = built.type;
        limitModule = built.module;
        version = built.version;
        break;
      }
      default: {
        const mod = this.lookupModule(call.callee, call.calleeSpan, true);
        module = limitModule = call.callee;
        const args = call.args.map((a) => this.compileExpr(a, ctx));
        inputs = args.map((c) => c.expr);
        if (mod) {
          this.usedModules.add(mod.name);
          this.checkArgs(mod, call, args, 0);
          action = mod.action;
          type = mod.result;
          version = mod.version;
        } else {
          action = { kind: "function" };
          type = T.Any;
        }
      }
    }
    const step: Step = {
      id,
      module,
      action,
      inputs,
      options: {},
      source: this.sink.lines.span(this.input.file, span.start, span.end),
    };
    if (version !== undefined) step.options.version = version;
    this.steps.push(step);
    if (options.length > 0) this.applyOptions(step, limitModule, options, ctx.step!.mapRefs);
    return { type, isMap };
  }

  private buildMap(
    call: CallExpr,
    ctx: Ctx,
  ): { action: StepAction; inputs: ValueExpr[]; type: Type; module: string; version?: string } {
    const [listArg, modArg, ...extras] = call.args;
    const fail = {
      action: { kind: "function" } as StepAction,
      inputs: [] as ValueExpr[],
      type: T.list(T.Any),
      module: "map",
    };
    if (!listArg || !modArg) {
      this.sink.error("arity", "map needs a list and a module: map(items, Module)", call.start, call.end);
      if (listArg) this.compileExpr(listArg, ctx);
      return fail;
    }
    const list = this.compileExpr(listArg, ctx);
    let item: Type = T.Any;
    if (list.type.kind === "List") item = list.type.item;
    else if (!list.bad && list.type.kind !== "Any") {
      this.sink.error(
        "type-mismatch",
        `map needs a list, got ${showType(list.type)}`,
        listArg.start,
        listArg.end,
        list.type.kind === "Optional" ? "the value may be missing (it is Optional)" : undefined,
      );
    }
    const rest = extras.map((e) => this.compileExpr(e, ctx));
    let mod: FlowModule | undefined;
    if (modArg.kind !== "ident") {
      this.sink.error(
        "map-module",
        modArg.kind === "call"
          ? "pass the module by name, without calling it"
          : "the second argument of map is the module to run for each item",
        modArg.start,
        modArg.end,
        modArg.kind === "call" ? `write: map(items, ${modArg.callee})` : "write: map(items, Module)",
      );
      if (modArg.kind !== "call") this.compileExpr(modArg, ctx);
    } else if ((BUILTINS as readonly string[]).includes(modArg.name)) {
      this.sink.error(
        "map-module",
        `map runs a module from a use file for each item; ${modArg.name} is a built-in`,
        modArg.start,
        modArg.end,
      );
    } else {
      mod = this.lookupModule(modArg.name, modArg, false);
    }
    if (!mod) return { ...fail, inputs: [list.expr, ...rest.map((r) => r.expr)] };
    this.usedModules.add(mod.name);
    const args: Compiled[] = [{ expr: list.expr, type: item, bad: list.bad }, ...rest];
    this.checkArgs(mod, call, args, 1, [listArg, ...extras]);
    return {
      action: { kind: "map", module: mod.name, item: mod.action },
      inputs: [list.expr, ...rest.map((r) => r.expr)],
      type: T.list(mod.result),
      module: mod.name,
      version: mod.version,
    };
  }

  private lookupModule(name: string, at: Span, called: boolean): FlowModule | undefined {
    const mod = this.input.modules.get(name);
    if (mod) return mod;
    const b = this.bindings.get(name);
    if (b) {
      this.sink.error(
        "not-callable",
        `${name} is ${b.kind === "input" ? "an input" : "a value"}, not a module`,
        at.start,
        at.end,
        suggest(name, this.input.modules.keys()) ??
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
      suggest(name, candidates) ??
        (this.input.modules.size === 0 ? 'import modules with use "./modules.ts"' : undefined),
    );
    return undefined;
  }

  /** Argument count and types of a module call; `offset` args are counted but supplied by map. */
  private checkArgs(
    mod: FlowModule,
    call: CallExpr,
    args: Compiled[],
    offset: number,
    argExprs = call.args,
  ): void {
    const params = mod.params;
    if (!params) return;
    const n = args.length;
    if (n < mod.minArgs || n > params.length) {
      const want = mod.minArgs === params.length ? `${params.length}` : `${mod.minArgs} to ${params.length}`;
      const extra = n > params.length ? argExprs[params.length] : undefined;
      const got =
        offset === 1 ? `but map passes ${n} (the item${n > 1 ? ` and ${n - 1} more` : ""})` : `got ${n}`;
      this.sink.error(
        "arity",
        `${mod.name} expects ${want} argument${want === "1" ? "" : "s"}, ${got}`,
        extra?.start ?? call.start,
        extra ? argExprs[argExprs.length - 1]!.end : call.end,
        offset === 1 && n < mod.minArgs
          ? `pass the other arguments after the module: map(items, ${mod.name}, ...)`
          : undefined,
      );
    }
    const single = params.length === 1;
    for (let i = 0; i < Math.min(n, params.length); i++) {
      const a = args[i]!;
      if (a.bad || assignable(a.type, params[i]!)) continue;
      const at = argExprs[i]!;
      const role = offset === 1 && i === 0 ? " for each item" : single ? "" : ` as argument ${i + 1}`;
      const got = offset === 1 && i === 0 ? `items of ${showType(a.type)}` : showType(a.type);
      this.sink.error(
        "type-mismatch",
        `${mod.name} expects ${showType(params[i]!)}${role}, got ${got}`,
        at.start,
        at.end,
        whyNotAssignable(a.type, params[i]!),
      );
    }
  }

  // ---- options ----------------------------------------------------------------------------------

  private applyOptions(step: Step, limitModule: string, options: OptionNode[], mapRefs: number): void {
    const o: StepOptions = step.options;
    const seen = new Map<string, OptionNode>();
    let backoffNode: OptionNode | undefined;
    for (const opt of options) {
      const { name, value } = opt;
      if (seen.has(name)) {
        this.sink.error(
          "duplicate-option",
          `option ${name} is given twice`,
          opt.nameSpan.start,
          opt.nameSpan.end,
        );
        continue;
      }
      seen.set(name, opt);
      if (!(OPTION_NAMES as readonly string[]).includes(name)) {
        this.sink.error(
          "unknown-option",
          `unknown option ${name}`,
          opt.nameSpan.start,
          opt.nameSpan.end,
          suggest(name, OPTION_NAMES) ?? `options: ${OPTION_NAMES.join(", ")}`,
        );
        continue;
      }
      const wrong = (got?: string): void => {
        this.sink.error(
          "bad-option",
          `${name} must be ${OPTION_SHAPES[name as OptionName]}${got ? `, got ${got}` : ""}`,
          value.start,
          value.end,
        );
      };
      switch (name as OptionName) {
        case "priority": {
          if (value.kind === "ident" && !this.bindings.has(value.name)) {
            const p = PRIORITY_WORDS[value.name];
            if (p === undefined) {
              this.sink.error(
                "bad-option",
                `priority must be ${OPTION_SHAPES.priority}, got ${value.name}`,
                value.start,
                value.end,
                suggest(value.name, Object.keys(PRIORITY_WORDS)),
              );
            } else o.priority = p;
            break;
          }
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v === "number" && Number.isFinite(v)) o.priority = v;
          else wrong(describeOption(value, v));
          break;
        }
        case "retry":
        case "cpus":
        case "concurrency": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          const min = name === "concurrency" ? 1 : 0;
          if (!(Number.isInteger(v) && (v as number) >= min)) {
            wrong(describeOption(value, v));
            break;
          }
          if (name === "retry") o.retries = v as number;
          else if (name === "cpus") o.cpus = v as number;
          else this.setLimit(limitModule, "concurrency", v as number, value);
          break;
        }
        case "timeout":
        case "estimate": {
          if (value.kind !== "duration") {
            const v = value.kind === "rate" ? undefined : this.optionValue(opt);
            if (v !== BAD) {
              this.sink.error(
                "bad-option",
                `${name} must be ${OPTION_SHAPES[name as OptionName]}, got ${describeOption(value, v)}`,
                value.start,
                value.end,
                typeof v === "number" ? `add a unit: ${v}s or ${v}ms` : undefined,
              );
            }
            break;
          }
          if (!(value.ms > 0)) {
            this.sink.error("bad-option", `${name} must be longer than 0`, value.start, value.end);
            break;
          }
          if (name === "timeout") o.timeoutMs = value.ms;
          else o.estimateMs = value.ms;
          break;
        }
        case "throttle": {
          if (value.kind !== "rate") {
            const v = this.optionValue(opt);
            if (v !== BAD) wrong(describeOption(value, v));
            break;
          }
          const r = value.rate;
          if (!r) break; // malformed: reported by the lexer
          if (!(Number.isInteger(r.tokens) && r.tokens >= 1) || !(r.perMs > 0)) {
            this.sink.error(
              "bad-option",
              `a rate needs a whole number of calls, at least 1, per period; got ${this.source.slice(value.start, value.end)}`,
              value.start,
              value.end,
              "write it like 20/s or 100/1min; to run one at a time use concurrency: 1",
            );
            break;
          }
          this.setLimit(limitModule, "rate", r, value);
          break;
        }
        case "pool": {
          let pool: string | undefined;
          if (value.kind === "ident" && !this.bindings.has(value.name)) pool = value.name;
          else {
            const v = this.optionValue(opt);
            if (v === BAD) break;
            if (typeof v !== "string") {
              wrong(describeOption(value, v));
              break;
            }
            pool = v;
          }
          if (!this.pools.has(pool)) {
            this.sink.error(
              "unknown-pool",
              `unknown pool ${pool}`,
              value.start,
              value.end,
              suggest(pool, this.pools.keys()) ?? `declare it: pool ${pool} = 2`,
            );
            break;
          }
          o.pool = pool;
          break;
        }
        case "cache":
        case "partial": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v !== "boolean") {
            wrong(describeOption(value, v));
            break;
          }
          if (name === "cache") o.cache = v;
          else {
            o.partial = v;
            if (v && mapRefs === 0) {
              this.sink.warning(
                "partial-without-map",
                `partial has no effect: ${step.id} does not use the value of a map`,
                opt.nameSpan.start,
                value.end,
              );
            }
          }
          break;
        }
        case "env": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
            wrong(describeOption(value, v));
            break;
          }
          const badName = v.find((x) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(x));
          if (badName !== undefined) {
            this.sink.error(
              "bad-option",
              `${JSON.stringify(badName)} is not an environment variable name`,
              value.start,
              value.end,
            );
            break;
          }
          o.env = v;
          break;
        }
        case "version": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v !== "string" || v === "") {
            wrong(describeOption(value, v));
            break;
          }
          o.version = v;
          break;
        }
        case "backoff":
          backoffNode = opt;
          this.applyBackoff(o, opt);
          break;
      }
    }
    if (backoffNode && !(o.retries !== undefined && o.retries > 0)) {
      this.sink.error(
        "backoff-without-retry",
        "backoff has no effect without retry",
        backoffNode.nameSpan.start,
        backoffNode.value.end,
        "add retry: 3 (the number of extra attempts)",
      );
    }
  }

  private applyBackoff(o: StepOptions, opt: OptionNode): void {
    const v = opt.value;
    const b: Backoff = { ...DEFAULT_BACKOFF };
    if (v.kind === "duration") {
      if (!(v.ms > 0)) {
        this.sink.error("bad-option", "backoff must be longer than 0", v.start, v.end);
        return;
      }
      b.initialMs = v.ms;
      b.maxMs = Math.max(b.maxMs, v.ms);
      o.backoff = b;
      return;
    }
    if (v.kind !== "record") {
      const got = this.optionValue(opt);
      if (got !== BAD) {
        this.sink.error(
          "bad-option",
          `backoff must be ${OPTION_SHAPES.backoff}, got ${describeOption(v, got)}`,
          v.start,
          v.end,
        );
      }
      return;
    }
    let ok = true;
    const seen = new Set<string>();
    for (const f of v.fields) {
      if (seen.has(f.name)) {
        this.sink.error(
          "duplicate-field",
          `backoff field ${f.name} is given twice`,
          f.nameSpan.start,
          f.nameSpan.end,
        );
        ok = false;
        continue;
      }
      seen.add(f.name);
      if (!(BACKOFF_FIELDS as readonly string[]).includes(f.name)) {
        this.sink.error(
          "bad-option",
          `unknown backoff field ${f.name}`,
          f.nameSpan.start,
          f.nameSpan.end,
          suggest(f.name, BACKOFF_FIELDS) ?? `fields: ${BACKOFF_FIELDS.join(", ")}`,
        );
        ok = false;
        continue;
      }
      if (f.name === "initial" || f.name === "max") {
        if (f.value.kind !== "duration" || !(f.value.ms > 0)) {
          this.sink.error(
            "bad-option",
            `backoff ${f.name} must be a duration longer than 0, like 200ms`,
            f.value.start,
            f.value.end,
          );
          ok = false;
          continue;
        }
        if (f.name === "initial") b.initialMs = f.value.ms;
        else b.maxMs = f.value.ms;
        continue;
      }
      const n = f.value.kind === "int" || f.value.kind === "float" ? f.value.value : NaN;
      if (f.name === "factor" && !(n >= 1)) {
        this.sink.error(
          "bad-option",
          "backoff factor must be a number of at least 1",
          f.value.start,
          f.value.end,
        );
        ok = false;
      } else if (f.name === "jitter" && !(n >= 0 && n <= 1)) {
        this.sink.error(
          "bad-option",
          "backoff jitter must be a number from 0 to 1",
          f.value.start,
          f.value.end,
        );
        ok = false;
      } else if (f.name === "factor") b.factor = n;
      else b.jitter = n;
    }
    if (seen.has("initial") && !seen.has("max")) b.maxMs = Math.max(b.maxMs, b.initialMs);
    if (b.maxMs < b.initialMs) {
      this.sink.error("bad-option", "backoff max is shorter than initial", v.start, v.end);
      ok = false;
    }
    if (ok) o.backoff = b;
  }

  /** An option's value, known at compile time; BAD when it is not (after reporting). */
  private optionValue(opt: OptionNode): unknown {
    const v = opt.value;
    if (v.kind === "duration" || v.kind === "rate")
      return v.kind === "duration" ? new Duration(v.ms) : new RateValue();
    const c = this.compileExpr(v, this.constCtx(opt.name), true);
    if (c.bad) return BAD;
    if (c.expr.kind !== "lit") {
      this.sink.error(
        "option-not-constant",
        `the value of ${opt.name} must be known before the run`,
        v.start,
        v.end,
        "use a literal or an input",
      );
      return BAD;
    }
    return c.expr.value;
  }

  private setLimit(module: string, what: "concurrency" | "rate", value: number | Rate, at: Span): void {
    const key = `${module}\0${what}`;
    const prev = this.limitSet.get(key);
    if (prev) {
      const same =
        typeof value === "number"
          ? prev.value === value
          : (prev.value as Rate).tokens === value.tokens && (prev.value as Rate).perMs === value.perMs;
      if (!same) {
        const { line } = this.sink.lines.position(prev.span.start);
        this.sink.error(
          "conflicting-limit",
          `${what === "rate" ? "throttle" : what} of module ${module} is already set differently on line ${line}`,
          at.start,
          at.end,
          `module limits hold across every step of ${module}; set it once`,
        );
      }
      return;
    }
    this.limitSet.set(key, { value, span: at });
  }

  // ---- out --------------------------------------------------------------------------------------

  private compileOut(s: Extract<Statement, { kind: "out" }>): void {
    for (const { name, span } of s.names) {
      if (this.outputs.includes(name)) continue;
      const b = this.bindings.get(name);
      if (!b) {
        this.sink.error(
          "unknown-name",
          `unknown name ${name} in out`,
          span.start,
          span.end,
          suggest(name, this.bindings.keys()) ??
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
    }
  }

  private checkFileLiterals(): void {
    for (const f of this.fileLiterals) {
      const producer = this.outputPaths.get(f.path);
      if (!producer || producer.step === f.step) continue;
      this.sink.error(
        "file-is-output",
        `${f.path} is written by step ${producer.step}; reading it with file() does not wait for that step`,
        f.span.start,
        f.span.end,
        `use ${producer.step} (its value is the file) instead of file(${JSON.stringify(f.path)})`,
      );
    }
  }

  // ---- expressions ------------------------------------------------------------------------------

  private compileExpr(e: Expr, ctx: Ctx, optionMode = false): Compiled {
    switch (e.kind) {
      case "error":
        return ERR;
      case "int":
        return { expr: { kind: "lit", value: e.value }, type: T.Int };
      case "float":
        return { expr: { kind: "lit", value: e.value }, type: T.Float };
      case "bool":
        return { expr: { kind: "lit", value: e.value }, type: T.Bool };
      case "duration":
        // As a value, a duration is its number of milliseconds.
        return { expr: { kind: "lit", value: e.ms }, type: Number.isInteger(e.ms) ? T.Int : T.Float };
      case "rate":
        this.sink.error(
          "rate-value",
          "a rate is only meaningful as throttle: ...",
          e.start,
          e.end,
          "write: with throttle: 20/s",
        );
        return ERR;
      case "string":
        return this.compileString(e, ctx);
      case "list": {
        const items = e.items.map((x) => this.compileExpr(x, ctx));
        let item: Type | undefined;
        for (const c of items) item = item === undefined ? c.type : join(item, c.type);
        const type = T.list(item ?? T.Any);
        if (items.every((c) => c.expr.kind === "lit")) {
          return {
            expr: { kind: "lit", value: items.map((c) => (c.expr as { value: unknown }).value) },
            type,
          };
        }
        return { expr: { kind: "list", items: items.map((c) => c.expr) }, type };
      }
      case "record": {
        const fields: Record<string, Compiled> = Object.create(null);
        for (const f of e.fields) {
          if (f.name in fields) {
            this.sink.error(
              "duplicate-field",
              `field ${f.name} is given twice`,
              f.nameSpan.start,
              f.nameSpan.end,
            );
            continue;
          }
          fields[f.name] = this.compileExpr(f.value, ctx);
        }
        const keys = Object.keys(fields);
        const types: Record<string, Type> = Object.create(null);
        for (const k of keys) types[k] = fields[k]!.type;
        if (keys.every((k) => fields[k]!.expr.kind === "lit")) {
          const value: Record<string, unknown> = {};
          for (const k of keys) setOwn(value, k, (fields[k]!.expr as { value: unknown }).value);
          return { expr: { kind: "lit", value }, type: T.record(types) };
        }
        const exprs: Record<string, ValueExpr> = {};
        for (const k of keys) setOwn(exprs, k, fields[k]!.expr);
        return { expr: { kind: "record", fields: exprs }, type: T.record(types) };
      }
      case "ident":
        return this.compileIdent(e, ctx, optionMode);
      case "field":
        return this.compileAccess(e, e.target, e.name, e.nameSpan, ctx);
      case "index": {
        const ix = e.index;
        let key: string | number | undefined;
        if (ix.kind === "int" && ix.value >= 0) key = ix.value;
        else if (ix.kind === "string" && ix.parts.every((p) => typeof p === "string"))
          key = ix.parts.join("");
        if (key === undefined) {
          this.compileExpr(e.target, ctx);
          this.sink.error(
            "bad-index",
            'an index must be a whole number (xs[0]) or a string (r["key"])',
            ix.start,
            ix.end,
            "indexes must be known before the run; compute others in a module",
          );
          return ERR;
        }
        return this.compileAccess(e, e.target, key, ix, ctx);
      }
      case "call":
        return this.compileCall(e, ctx);
    }
  }

  private compileString(e: Extract<Expr, { kind: "string" }>, ctx: Ctx): Compiled {
    const parts: ValueExpr[] = [];
    let allLit = true;
    let bad = false;
    for (const p of e.parts) {
      if (typeof p === "string") {
        parts.push({ kind: "lit", value: p });
        continue;
      }
      const c = this.compileExpr(p, ctx);
      if (c.bad) bad = true;
      if (c.expr.kind !== "lit" || !isFoldable(c.expr.value)) allLit = false;
      parts.push(c.expr);
    }
    if (allLit) {
      let s = "";
      for (const p of parts) s += textOf((p as { value: unknown }).value);
      return { expr: { kind: "lit", value: s }, type: T.String, bad };
    }
    return { expr: { kind: "concat", parts }, type: T.String, bad };
  }

  private compileIdent(e: Extract<Expr, { kind: "ident" }>, ctx: Ctx, optionMode: boolean): Compiled {
    const b = this.bindings.get(e.name);
    if (!b) {
      let hint = suggest(e.name, this.bindings.keys());
      let message = `unknown name ${e.name}`;
      if (this.input.modules.has(e.name) || (BUILTINS as readonly string[]).includes(e.name)) {
        message = `${e.name} is a ${this.input.modules.has(e.name) ? "module" : "built-in"}, not a value`;
        hint = `call it: ${e.name}(...)`;
      } else if (this.pools.has(e.name)) {
        message = `${e.name} is a pool, not a value`;
        hint = `use it as: with pool: ${e.name}`;
      } else if (optionMode && e.name in PRIORITY_WORDS) {
        message = `${e.name} is only meaningful as a priority`;
        hint = undefined;
      }
      this.sink.error("unknown-name", message, e.start, e.end, hint);
      return ERR;
    }
    if (ctx.constOnly) {
      if (b.kind === "input" && b.resolved) return { expr: b.expr, type: b.type };
      if (b.kind === "value" && b.state === 2 && b.expr.kind === "lit") return { expr: b.expr, type: b.type };
      this.sink.error(
        "not-constant",
        b.kind === "input"
          ? `${e.name} is declared later; a default can only use inputs declared before it`
          : `${e.name} is not known before the run`,
        e.start,
        e.end,
        optionMode ? "option values must be literals or inputs" : "use a literal or an input declared above",
      );
      return ERR;
    }
    switch (b.kind) {
      case "input":
        return { expr: b.expr, type: b.type };
      case "value": {
        // Not yet compiled here means it is on a cycle (reported by compileValues).
        if (b.state !== 2) return ERR;
        // A value that is just another name for a map (`s = scores`) counts as that map.
        const target = b.expr.kind === "ref" && !b.expr.path ? this.bindings.get(b.expr.step) : undefined;
        if (target?.kind === "step" && target.isMap && ctx.step) {
          ctx.step.mapRefs++;
          if (ctx.partial) return { expr: b.expr, type: partialType(target.type) };
        }
        return { expr: b.expr, type: b.type };
      }
      case "step": {
        const expr: ValueExpr = { kind: "ref", step: b.name };
        if (b.isMap && ctx.step) {
          ctx.step.mapRefs++;
          if (ctx.partial) return { expr, type: partialType(b.type) };
        }
        return { expr, type: b.type };
      }
    }
  }

  /** `target.name` or `target[key]`: a ref gets a path; literal values are picked at compile time. */
  private compileAccess(e: Expr, target: Expr, key: string | number, keySpan: Span, ctx: Ctx): Compiled {
    const base = this.compileExpr(target, ctx);
    if (base.bad) return ERR;
    const shown = typeof key === "number" ? `[${key}]` : `.${key}`;
    let type: Type | undefined;
    const t = base.type;
    if (typeof key === "number") {
      if (t.kind === "List") type = t.item;
      else if (t.kind === "Any") type = T.Any;
      else if (t.kind === "Optional" && t.inner.kind === "List") type = T.optional(t.inner.item);
    } else {
      type = fieldType(t, key);
    }
    if (type === undefined) {
      const fields =
        t.kind === "Record"
          ? Object.keys(t.fields)
          : t.kind === "Optional" && t.inner.kind === "Record"
            ? Object.keys(t.inner.fields)
            : [];
      this.sink.error(
        "no-field",
        typeof key === "number"
          ? `${this.source.slice(target.start, target.end)} is ${showType(t)}, which cannot be indexed with ${shown}`
          : `${this.source.slice(target.start, target.end)} has no field ${key}`,
        keySpan.start,
        keySpan.end,
        typeof key === "string" && fields.length > 0
          ? (suggest(key, fields) ?? `its fields: ${fields.join(", ")}`)
          : `its type is ${showType(t)}`,
      );
      return ERR;
    }
    const b = base.expr;
    switch (b.kind) {
      case "ref":
        return { expr: { kind: "ref", step: b.step, path: [...(b.path ?? []), key] }, type };
      case "lit": {
        const v = b.value as Record<string | number, unknown> | null;
        if (v === null || typeof v !== "object" || !Object.hasOwn(v, key)) {
          this.sink.error(
            "no-field",
            `${this.source.slice(target.start, target.end)} has no ${shown}`,
            keySpan.start,
            keySpan.end,
          );
          return ERR;
        }
        return { expr: { kind: "lit", value: v[key] }, type };
      }
      case "list":
        if (typeof key === "number" && key < b.items.length) return { expr: b.items[key]!, type };
        break;
      case "record":
        if (typeof key === "string" && Object.hasOwn(b.fields, key)) return { expr: b.fields[key]!, type };
        break;
      default:
        this.sink.error(
          "bad-access",
          `cannot take ${shown} of this value`,
          e.start,
          e.end,
          "take fields of a step's value, an input or a record",
        );
        return ERR;
    }
    this.sink.error(
      "no-field",
      `${this.source.slice(target.start, target.end)} has no ${shown}`,
      keySpan.start,
      keySpan.end,
    );
    return ERR;
  }

  private compileCall(e: CallExpr, ctx: Ctx): Compiled {
    switch (e.callee) {
      case "file":
        return this.compileFile(e, ctx);
      case "glob": {
        const arg = this.oneArg(e, ctx, "glob(pattern)");
        if (!arg) return ERR;
        if (arg.c.expr.kind !== "lit" || typeof arg.c.expr.value !== "string") {
          if (!arg.c.bad) {
            this.sink.error(
              "not-constant",
              "the pattern of glob must be a string known before the run",
              arg.e.start,
              arg.e.end,
            );
          }
          return ERR;
        }
        return { expr: { kind: "glob", pattern: arg.c.expr.value }, type: T.list(T.File) };
      }
      case "output":
        return this.compileOutput(e, ctx);
    }
    if (STEP_BUILTINS.has(e.callee) || this.input.modules.has(e.callee) || !this.bindings.has(e.callee)) {
      if (ctx.constOnly) {
        this.sink.error(
          "not-constant",
          `${e.callee}(...) runs a step; this value must be known before the run`,
          e.start,
          e.end,
        );
        return ERR;
      }
      const id = `${ctx.owner}.${++ctx.counter.n}`;
      const built = this.buildStep(id, e, ctx, e, e, []);
      const expr: ValueExpr = { kind: "ref", step: id };
      if (built.isMap && ctx.step) {
        ctx.step.mapRefs++;
        if (ctx.partial) return { expr, type: partialType(built.type) };
      }
      return { expr, type: built.type };
    }
    this.lookupModule(e.callee, e.calleeSpan, true);
    for (const a of e.args) this.compileExpr(a, ctx);
    return ERR;
  }

  private oneArg(e: CallExpr, ctx: Ctx, usage: string): { c: Compiled; e: Expr } | undefined {
    if (e.args.length !== 1) {
      this.sink.error("arity", `${e.callee} takes one argument: ${usage}`, e.start, e.end);
      for (const a of e.args) this.compileExpr(a, ctx);
      return undefined;
    }
    const a = e.args[0]!;
    return { c: this.compileExpr(a, ctx), e: a };
  }

  private compileFile(e: CallExpr, ctx: Ctx): Compiled {
    const arg = this.oneArg(e, ctx, 'file("path")');
    if (!arg) return ERR;
    const { c } = arg;
    if (!c.bad && !(c.type.kind === "String" || c.type.kind === "File" || c.type.kind === "Any")) {
      this.sink.error(
        "type-mismatch",
        `file expects a path (String), got ${showType(c.type)}`,
        arg.e.start,
        arg.e.end,
      );
      return ERR;
    }
    if (c.expr.kind === "lit" && typeof c.expr.value === "string") {
      if (c.expr.value === "") {
        this.sink.error("bad-path", "file needs a path", arg.e.start, arg.e.end);
        return ERR;
      }
      this.fileLiterals.push({ path: normalizePath(c.expr.value), span: arg.e, step: ctx.step?.id });
    }
    return { expr: { kind: "file", path: c.expr }, type: T.File, bad: c.bad };
  }

  private compileOutput(e: CallExpr, ctx: Ctx): Compiled {
    if (!ctx.allowOutput) {
      this.sink.error(
        "output-outside-command",
        "output() declares a file that a command writes; use it in the arguments of exec() or sh()",
        e.start,
        e.end,
      );
      for (const a of e.args) this.compileExpr(a, ctx);
      return ERR;
    }
    const arg = this.oneArg(e, ctx, 'output("path")');
    if (!arg) return ERR;
    const { c } = arg;
    if (c.expr.kind !== "lit" || typeof c.expr.value !== "string") {
      if (!c.bad) {
        this.sink.error(
          "not-constant",
          "the path of output must be a string known before the run",
          arg.e.start,
          arg.e.end,
          'use a literal, or interpolate inputs: output("out/${name}.txt")',
        );
      }
      return ERR;
    }
    const path = c.expr.value;
    const problem = outputPathProblem(path);
    if (problem) {
      this.sink.error(
        "bad-output-path",
        `output path ${JSON.stringify(path)} ${problem}`,
        arg.e.start,
        arg.e.end,
        "outputs are written inside the project: use a relative path like out/result.txt",
      );
      return ERR;
    }
    const norm = normalizePath(path);
    const step = ctx.step!;
    const prev = this.outputPaths.get(norm);
    if (prev && prev.step !== step.id) {
      const { line } = this.sink.lines.position(prev.span.start);
      this.sink.error(
        "duplicate-output",
        `${norm} is already written by step ${prev.step} (line ${line})`,
        arg.e.start,
        arg.e.end,
        "every file must have one producer",
      );
    } else if (!prev) {
      this.outputPaths.set(norm, { step: step.id, span: arg.e });
    }
    step.outputs.push(norm);
    return { expr: { kind: "output", path }, type: T.String };
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/**
 * "did you mean X?": by edit distance, else the candidate sharing the longest start with the name
 * (`retries` -> `retry`, `conc` -> `concurrency`).
 */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  const near = editSuggest(name, list);
  if (near || name.length < 3) return near;
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestLen = 0;
  for (const c of list) {
    const cl = c.toLowerCase();
    let k = 0;
    while (k < cl.length && k < lower.length && cl[k] === lower[k]) k++;
    const enough = k >= 4 || (k >= 3 && k === Math.min(cl.length, lower.length));
    if (enough && k > bestLen) {
      best = c;
      bestLen = k;
    }
  }
  return best === undefined ? undefined : `did you mean ${best}?`;
}

class Duration {
  constructor(readonly ms: number) {}
}
class RateValue {}
const BAD = Symbol("bad");

function describeOption(e: Expr, v: unknown): string {
  if (v instanceof Duration || e.kind === "duration") return "a duration";
  if (v instanceof RateValue || e.kind === "rate") return "a rate";
  return describeJs(v);
}

function describeJs(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  if (v === null || v === undefined) return "nothing";
  return "a record";
}

function describeValue(c: Compiled, e: Expr): string {
  if (c.expr.kind === "lit") return describeJs(c.expr.value);
  return e.kind;
}

function partialType(mapType: Type): Type {
  return T.record({ ok: mapType.kind === "List" ? mapType : T.list(T.Any), failed: T.list(PARTIAL_FAILURE) });
}

function outputsType(n: number): Type {
  return n === 0 ? T.String : n === 1 ? T.File : T.list(T.File);
}

function isWordType(t: Type): boolean {
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
function countOutputs(args: readonly Expr[]): number {
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

/** Names an expression refers to (also inside nested calls and interpolations). */
function collectIdents(e: Expr, out: string[]): void {
  switch (e.kind) {
    case "ident":
      out.push(e.name);
      return;
    case "call":
      for (const a of e.args) collectIdents(a, out);
      return;
    case "list":
      for (const x of e.items) collectIdents(x, out);
      return;
    case "record":
      for (const f of e.fields) collectIdents(f.value, out);
      return;
    case "string":
      for (const p of e.parts) if (typeof p !== "string") collectIdents(p, out);
      return;
    case "field":
      collectIdents(e.target, out);
      return;
    case "index":
      collectIdents(e.target, out);
      collectIdents(e.index, out);
      return;
    default:
      return;
  }
}

/** `obj[k] = v`, also for k = "__proto__" (which would otherwise set the prototype). */
function setOwn<V>(obj: Record<string, V>, k: string, v: V): void {
  if (k === "__proto__")
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

function isFoldable(v: unknown): boolean {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null;
}

function textOf(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** Why an output path is not allowed, or undefined when it is fine. */
export function outputPathProblem(path: string): string | undefined {
  if (path === "") return "is empty";
  const c0 = path.charCodeAt(0);
  if (c0 === 47 || c0 === 92 || /^[A-Za-z]:[\\/]/.test(path)) return "is absolute";
  // Walk the segments without splitting: this runs once per output of 10,000-step flows.
  let depth = 0;
  let segStart = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i === path.length ? 47 : path.charCodeAt(i);
    if (c !== 47 && c !== 92) continue;
    const len = i - segStart;
    if (len === 2 && path.charCodeAt(segStart) === 46 && path.charCodeAt(segStart + 1) === 46) {
      if (--depth < 0) return "escapes the project directory";
    } else if (len > 0 && !(len === 1 && path.charCodeAt(segStart) === 46)) depth++;
    segStart = i + 1;
  }
  if (depth === 0) return "names the project directory itself";
  return undefined;
}

const PLAIN_PATH = /^(?!\.\.?\/)(?:[^/\\.]|\.(?!\.?(?:\/|$)))*(?:\/(?:[^/\\.]|\.(?!\.?(?:\/|$)))+)*$/;

/** `./a//b/../c` -> `a/c`; the common already-normal path is returned as is. */
function normalizePath(p: string): string {
  if (PLAIN_PATH.test(p)) return p;
  return posix.normalize(p.replace(/\\/g, "/")).replace(/^\.\//, "");
}

// ---- inputs from the command line ---------------------------------------------------------------

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
