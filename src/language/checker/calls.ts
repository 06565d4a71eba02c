import type { Step, StepAction, StepId, ValueExpr } from "../../graph/ir.js";
import type { StepKind } from "../../graph/options.js";
import type { Expr, OptionNode, Span } from "../ast.js";
import { BUILTINS, type FlowModule } from "../modules.js";
import { T, assignable, showType, whyNotAssignable, type Type } from "../types.js";
import type { CallExpr, Compiled, Ctx, ForExpr } from "./scope.js";
import { checkShellTemplate } from "./sh-template.js";
import { STEP_BUILTINS, VALUE_BUILTINS, countOutputs, isWordType, outputsType } from "./step-types.js";
import { OptionChecker } from "./with-options.js";

/** What a call runs: the parts of its step, before options. */
export interface CallBody {
  module: string;
  action: StepAction;
  inputs: ValueExpr[];
  type: Type;
  /** The module whose limits concurrency and throttle set. */
  limitModule: string;
  /** For the option table; undefined when the callee is unknown. */
  kind: StepKind | undefined;
  version?: string;
  isMap: boolean;
}

/** Calls that make steps: modules from `use` files, exec(), sh() and map(), with their arguments. */
export abstract class CallChecker extends OptionChecker {
  protected isStepCall(e: Expr): boolean {
    if (e.kind === "for") return true;
    if (e.kind !== "call") return false;
    if (STEP_BUILTINS.has(e.callee)) return true;
    if (VALUE_BUILTINS.has(e.callee)) return false;
    // Unknown callees count as steps, so that one misspelt module does not cascade into other errors.
    const b = this.bindings.get(e.callee);
    return b === undefined || this.input.modules.has(e.callee);
  }

  /** The type a step's value will have; known from the callee alone, so no ordering is needed. */
  protected stepResultType(call: CallExpr | ForExpr): Type {
    if (call.kind === "for") {
      return T.list(
        call.body.kind === "call" && call.body.callee !== "map" ? this.stepResultType(call.body) : T.Any,
      );
    }
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

  /** Creates the step for a call of a module, exec, sh or map, or a `for`; returns its value's type. */
  protected buildStep(
    id: StepId,
    call: CallExpr | ForExpr,
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
    let keyOption: OptionNode | undefined;
    if (call.kind === "for") {
      keyOption = options.find((o) => o.name === "key");
      if (keyOption) options = options.filter((o) => o !== keyOption);
    } else {
      for (const o of options) {
        if (o.name === "key") {
          this.sink.error(
            "key-without-for",
            "key names the items of a for",
            o.nameSpan.start,
            o.value.end,
            "write: results = for r in records: Judge(r) with key: r.id",
          );
        }
      }
      options = options.filter((o) => o.name !== "key");
    }
    const body =
      call.kind === "for" ? this.buildFor(id, call, ctx, keyOption) : this.compileCallBody(call, ctx);
    const { module, action, inputs, type, limitModule, kind, version, isMap } = body;
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
    if (options.length > 0) this.applyOptions(step, kind, limitModule, options, ctx.step!.mapRefs);
    return { type, isMap };
  }

  /** What a call of a module, exec, sh or map runs, with what, and the type of its value. */
  protected compileCallBody(call: CallExpr, ctx: Ctx): CallBody {
    let module: string;
    let action: StepAction;
    let inputs: ValueExpr[];
    let type: Type;
    let limitModule: string;
    /** For the option table; undefined when the callee is unknown. */
    let kind: StepKind | undefined;
    let version: string | undefined;
    let isMap = false;
    switch (call.callee) {
      case "exec": {
        ctx.allowOutput = true;
        kind = "exec";
        // The items of a for over a command are their own module: its limits hold for them alone.
        module = limitModule = ctx.item ? ctx.step!.id : "exec";
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
        kind = "sh";
        module = limitModule = ctx.item ? ctx.step!.id : "sh";
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
          const values: ValueExpr[] = [];
          for (const p of tpl.parts) {
            // Template text is the only part the engine leaves unquoted; every value is quoted.
            if (typeof p === "string") parts.push({ kind: "lit", value: p, raw: true });
            else {
              const v = this.compileExpr(p, ctx).expr;
              parts.push(v);
              values.push(v);
            }
          }
          checkShellTemplate(tpl.parts, values, this.sink);
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
        module = kind = "map";
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
          kind = action.kind === "function" && action.thread ? "thread" : "function";
          type = mod.result;
          version = mod.version;
        } else {
          action = { kind: "function" };
          type = T.Any;
        }
      }
    }
    return { module, action, inputs, type, limitModule, kind, version, isMap };
  }

  /**
   * `for x in list: Call(...)`: a map whose items run the call with `x` bound to the item. The call's
   * arguments become the items' inputs with the item left as a placeholder (see item-template.ts).
   */
  protected buildFor(id: StepId, f: ForExpr, ctx: Ctx, keyOption: OptionNode | undefined): CallBody {
    const list = this.compileExpr(f.list, ctx);
    const failed: CallBody = {
      module: "map",
      action: { kind: "function" },
      inputs: [list.expr],
      type: T.list(T.Any),
      limitModule: "map",
      kind: "map",
      isMap: true,
    };
    let item: Type = T.Any;
    if (list.type.kind === "List") item = list.type.item;
    else if (!list.bad && list.type.kind !== "Any") {
      this.sink.error(
        "type-mismatch",
        `for needs a list, got ${showType(list.type)}`,
        f.list.start,
        f.list.end,
        list.type.kind === "Optional" ? "the value may be missing (it is Optional)" : undefined,
      );
    }
    const taken = this.bindings.get(f.name) ?? this.input.modules.get(f.name);
    if (taken || (BUILTINS as readonly string[]).includes(f.name)) {
      this.sink.error(
        "item-name-taken",
        `${f.name} is already a name in this flow; the item needs a name of its own`,
        f.nameSpan.start,
        f.nameSpan.end,
        `write: for ${f.name[0]!.toLowerCase() === f.name[0] ? "each" : "item"} in ...`,
      );
    }
    const body = f.body;
    if (body.kind !== "call" || !this.isStepCall(body) || body.callee === "map") {
      this.sink.error(
        "for-body",
        body.kind === "call" && body.callee === "map"
          ? "a for runs one call per item; map inside a for is not supported"
          : "after the colon comes the call to run for each item",
        body.start,
        body.end,
        `write: for ${f.name} in ...: sh("... \${${f.name}} ...") or Module(${f.name})`,
      );
      if (body.kind !== "call") this.compileExpr(body, { ...ctx, item: { name: f.name, type: item } });
      return failed;
    }
    const inner = this.compileCallBody(body, { ...ctx, item: { name: f.name, type: item } });
    const action: Extract<StepAction, { kind: "map" }> = {
      kind: "map",
      module: inner.module,
      item: inner.action,
    };
    if (keyOption) {
      const k = this.compileExpr(keyOption.value, { ...ctx, item: { name: f.name, type: item } });
      if (k.expr.kind === "item" && k.expr.path && k.expr.path.length > 0) action.key = k.expr.path;
      else if (!k.bad) {
        this.sink.error(
          "bad-key",
          `key must be a field of ${f.name}, like ${f.name}.id`,
          keyOption.value.start,
          keyOption.value.end,
          "each item is named by the value of that field",
        );
      }
    }
    return {
      module: inner.module,
      action,
      inputs: [list.expr, ...inner.inputs],
      type: T.list(inner.type),
      limitModule: inner.limitModule,
      kind: "map",
      version: inner.version,
      isMap: true,
    };
  }

  protected buildMap(
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
      inputs: [list.expr, { kind: "item" }, ...rest.map((r) => r.expr)],
      type: T.list(mod.result),
      module: mod.name,
      version: mod.version,
    };
  }

  /** Argument count and types of a module call; `offset` args are counted but supplied by map. */
  protected checkArgs(
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
}
