import { setOwn } from "../../graph/own.js";
import { PATH_PARTS, type PathPart, type ValueExpr } from "../../graph/ir.js";
import { pathPartOf } from "../../graph/path-part.js";
import { PRIORITY_WORDS } from "../../graph/options.js";
import type { Expr, Span } from "../ast.js";
import { BUILTINS } from "../modules.js";
import { T, fieldType, join, showType, type Type } from "../types.js";
import { FileCallChecker } from "./file-calls.js";
import {
  ERR,
  perRunInputHint,
  perRunInputMessage,
  type CallExpr,
  type Compiled,
  type Ctx,
  type ForExpr,
} from "./scope.js";
import { STEP_BUILTINS, partialType } from "./step-types.js";

/** Expressions: literals, names, field access, interpolation and calls (a nested call is a step). */
export abstract class ExpressionChecker extends FileCallChecker {
  protected compileExpr(e: Expr, ctx: Ctx, optionMode = false): Compiled {
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
      case "for":
        return this.compileNestedStep(e, ctx);
    }
  }

  protected compileString(e: Extract<Expr, { kind: "string" }>, ctx: Ctx): Compiled {
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

  protected compileIdent(e: Extract<Expr, { kind: "ident" }>, ctx: Ctx, optionMode: boolean): Compiled {
    if (ctx.item !== undefined && e.name === ctx.item.name) return { expr: ITEM, type: ctx.item.type };
    const b = this.bindings.get(e.name);
    if (!b) {
      let hint = this.nearest(e.name, this.bindings.keys(), this.bindings.size);
      let message = `unknown name ${e.name}`;
      if (this.input.modules.has(e.name) || (BUILTINS as readonly string[]).includes(e.name)) {
        message = `${e.name} is a ${this.input.modules.has(e.name) ? "module" : "built-in"}, not a value`;
        hint = `call it: ${e.name}(...)`;
      } else if (this.pools.has(e.name)) {
        message = `${e.name} is a pool, not a value`;
        hint = `use it as: with pool: ${e.name}`;
      } else if (optionMode && Object.hasOwn(PRIORITY_WORDS, e.name)) {
        message = `${e.name} is only meaningful as a priority`;
        hint = undefined;
      }
      this.sink.error("unknown-name", message, e.start, e.end, hint);
      return ERR;
    }
    if (ctx.constOnly) {
      if (b.kind === "input" && b.resolved) {
        if (b.expr.kind !== "input" || ctx.inputDefault) return { expr: b.expr, type: b.type };
        this.sink.error(
          "per-run-input",
          perRunInputMessage(e.name, optionMode ? "an option value" : "this value"),
          e.start,
          e.end,
          perRunInputHint(e.name),
        );
        return ERR;
      }
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
  protected compileAccess(e: Expr, target: Expr, key: string | number, keySpan: Span, ctx: Ctx): Compiled {
    const base = this.compileExpr(target, ctx);
    if (base.bad) return ERR;
    const shown = typeof key === "number" ? `[${key}]` : `.${key}`;
    let type: Type | undefined;
    const t = base.type;
    if (typeof key === "string" && isPathPart(key) && (t.kind === "File" || t.kind === "String")) {
      if (base.expr.kind === "lit" && typeof base.expr.value === "string") {
        return { expr: { kind: "lit", value: pathPartOf(base.expr.value, key) }, type: T.String };
      }
      return { expr: { kind: "pathPart", of: base.expr, part: key }, type: T.String };
    }
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
          ? (this.nearest(key, fields, fields.length) ?? `its fields: ${listSome(fields)}`)
          : t.kind === "File"
            ? `a file has the parts ${PATH_PARTS.join(", ")}`
            : `its type is ${showType(t)}`,
      );
      return ERR;
    }
    const b = base.expr;
    switch (b.kind) {
      case "ref":
        return { expr: { kind: "ref", step: b.step, path: [...(b.path ?? []), key] }, type };
      case "item":
        return { expr: { kind: "item", path: [...(b.path ?? []), key] }, type };
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

  /** A call or `for` inside another expression: a step of its own, with a generated id (`owner.1`). */
  protected compileNestedStep(e: CallExpr | ForExpr, ctx: Ctx): Compiled {
    if (ctx.item !== undefined) {
      this.sink.error(
        "step-in-for",
        `inside a for, the call's arguments cannot run other steps`,
        e.start,
        e.end,
        `give it a for of its own: parsed = for ${ctx.item.name} in ...: ${e.kind === "call" ? e.callee : "Module"}(${ctx.item.name})`,
      );
      return ERR;
    }
    if (e.kind === "for" && ctx.constOnly) {
      this.sink.error(
        "not-constant",
        "for runs steps; this value must be known before the run",
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

  protected compileCall(e: CallExpr, ctx: Ctx): Compiled {
    switch (e.callee) {
      case "file":
        return this.compileFile(e, ctx);
      case "glob":
        return this.compileGlob(e, ctx);
      case "output":
        return this.compileOutput(e, ctx);
      case "lines":
      case "jsonl":
        return this.compileLines(e, ctx);
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
      return this.compileNestedStep(e, ctx);
    }
    this.lookupModule(e.callee, e.calleeSpan, true);
    for (const a of e.args) this.compileExpr(a, ctx);
    return ERR;
  }
}

const ITEM: ValueExpr = { kind: "item" };

function isPathPart(key: string): key is PathPart {
  return (PATH_PARTS as readonly string[]).includes(key);
}

function isFoldable(v: unknown): boolean {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null;
}

function textOf(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/** The first few of many names, and how many more. */
function listSome(names: readonly string[], most = 12): string {
  if (names.length <= most) return names.join(", ");
  return `${names.slice(0, most).join(", ")}, ... (${names.length - most} more)`;
}
