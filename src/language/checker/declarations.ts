import type { ValueExpr } from "../../graph/ir.js";
import type { Expr, Statement } from "../ast.js";
import { T, assignable, showType, typeFromNode, whyNotAssignable } from "../types.js";
import { CallChecker } from "./calls.js";
import { describeValue } from "./hints.js";
import {
  ERR,
  type Binding,
  type CallExpr,
  type Compiled,
  type ForExpr,
  type Ctx,
  type InputInfo,
  type InputStmt,
} from "./scope.js";
import { MAX_VALUE_DEPTH, valueDepth } from "./value-depth.js";
import { convertInput, valueToExpr } from "./values.js";

/** Names: inputs, pools, values (in dependency order) and the statements that are steps. */
export abstract class DeclarationChecker extends CallChecker {
  /** Values that nest past the limit (see value-depth.ts). */
  private readonly tooDeep = new Set<string>();

  protected declare(statements: Statement[]): void {
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
            const call = s.value as CallExpr | ForExpr;
            this.bindings.set(s.name, {
              kind: "step",
              name: s.name,
              stmt: s,
              type: this.stepResultType(call),
              isMap: call.kind === "for" || call.callee === "map",
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

  protected declarePools(statements: Statement[]): void {
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

  protected resolveInputs(statements: Statement[]): void {
    const given = this.input.inputs;
    const declared = new Set<string>();
    for (const s of statements) {
      if (s.kind !== "input") continue;
      declared.add(s.name);
      const b = this.bindings.get(s.name);
      const type = typeFromNode(s.type, this.sink);
      const span = this.sink.lines.span(this.input.file, s.start, s.end);
      const info: InputInfo = {
        name: s.name,
        type: showType(type),
        spec: type,
        required: false,
        source: span,
      };
      if (s.default) info.default = this.source.slice(s.default.start, s.default.end);
      let expr: ValueExpr = ERR.expr;
      let dflt: Compiled | undefined;
      if (s.default) {
        dflt = this.compileExpr(s.default, { ...this.constCtx(s.name), inputDefault: true });
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
      } else if (this.input.perRunInputs) {
        // Bound per run (graph/run-inputs.ts): a run that gives none gets the default, if any.
        expr = { kind: "input", name: s.name };
        info.perRun = dflt
          ? { default: dflt.expr }
          : type.kind === "Optional"
            ? { default: { kind: "lit", value: null } }
            : {};
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
      const hint = this.nearest(name, declared, declared.size);
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

  /** Compiles value bindings in dependency order (iteratively: deep chains must not blow the stack). */
  protected compileValues(): void {
    const values: Extract<Binding, { kind: "value" }>[] = [];
    for (const b of this.bindings.values()) if (b.kind === "value") values.push(b);
    if (values.length === 0) return;
    const index = new Map<string, number>();
    values.forEach((b, i) => index.set(b.name, i));
    const deps: number[][] = values.map((b) => {
      const names: string[] = [];
      collectIdents(b.stmt.value, names);
      const out: number[] = [];
      const seen = new Set<number>();
      for (const n of names) {
        const j = index.get(n);
        if (j !== undefined && !seen.has(j)) {
          seen.add(j);
          out.push(j);
        }
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

  protected compileValue(b: Extract<Binding, { kind: "value" }>): void {
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
    if (valueDepth(c.expr, MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH) {
      // Reported once, at the first value of a chain that goes past the limit.
      const names: string[] = [];
      collectIdents(b.stmt.value, names);
      if (!names.some((n) => this.tooDeep.has(n))) {
        this.sink.error(
          "too-deep",
          `${b.name} nests lists and records more than ${MAX_VALUE_DEPTH} levels deep, through the values it uses`,
          b.stmt.nameSpan.start,
          b.stmt.nameSpan.end,
          "build deeply nested data in a module",
        );
      }
      this.tooDeep.add(b.name);
    }
  }

  protected compileStepBinding(b: Extract<Binding, { kind: "step" }>): void {
    const s = b.stmt;
    const call = s.value as CallExpr | ForExpr;
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
    case "for":
      collectIdents(e.list, out);
      collectIdents(e.body, out);
      return;
    default:
      return;
  }
}
