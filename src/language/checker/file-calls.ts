import type { ValueExpr } from "../../graph/ir.js";
import type { Expr } from "../ast.js";
import { T, showType } from "../types.js";
import { normalizePath, outputPathProblem } from "./paths.js";
import { CheckScope, ERR, type CallExpr, type Compiled, type Ctx, type LiteralInputs } from "./scope.js";

/** The built-ins that name files: file(), glob() and output(), and the checks between them. */
export abstract class FileCallChecker extends CheckScope {
  protected oneArg(e: CallExpr, ctx: Ctx, usage: string): { c: Compiled; e: Expr } | undefined {
    if (e.args.length !== 1) {
      this.sink.error("arity", `${e.callee} takes one argument: ${usage}`, e.start, e.end);
      for (const a of e.args) this.compileExpr(a, ctx);
      return undefined;
    }
    const a = e.args[0]!;
    return { c: this.compileExpr(a, ctx), e: a };
  }

  protected compileFile(e: CallExpr, ctx: Ctx): Compiled {
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

  /** `glob(pattern)`: the pattern must be known before the run. */
  protected compileGlob(e: CallExpr, ctx: Ctx): Compiled {
    const arg = this.oneArg(e, ctx, "glob(pattern)");
    if (!arg) return ERR;
    if (arg.c.expr.kind !== "lit" || typeof arg.c.expr.value !== "string") {
      if (!arg.c.bad && !this.perRunInputIn(arg.c.expr, "the pattern of glob", arg.e)) {
        this.sink.error(
          "not-constant",
          "the pattern of glob must be a string known before the run",
          arg.e.start,
          arg.e.end,
        );
      }
      return ERR;
    }
    this.globLiterals.push({ pattern: arg.c.expr.value, span: arg.e });
    return { expr: { kind: "glob", pattern: arg.c.expr.value }, type: T.list(T.File) };
  }

  /** `lines(x)` / `jsonl(x)`: the non-empty lines of a file or text (each parsed as JSON for jsonl). */
  protected compileLines(e: CallExpr, ctx: Ctx): Compiled {
    const arg = this.oneArg(e, ctx, `${e.callee}(file("list.txt"))`);
    if (!arg) return ERR;
    const { c } = arg;
    if (!c.bad && !(c.type.kind === "String" || c.type.kind === "File" || c.type.kind === "Any")) {
      this.sink.error(
        "type-mismatch",
        `${e.callee} reads a file or a text, got ${showType(c.type)}`,
        arg.e.start,
        arg.e.end,
        `write: ${e.callee}(file("list.txt"))`,
      );
      return ERR;
    }
    const json = e.callee === "jsonl";
    return {
      expr: json ? { kind: "lines", of: c.expr, json: true } : { kind: "lines", of: c.expr },
      type: T.list(json ? T.Any : T.String),
      bad: c.bad,
    };
  }

  protected compileOutput(e: CallExpr, ctx: Ctx): Compiled {
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
    if (!c.bad && this.perRunInputIn(c.expr, "an output path", arg.e)) return ERR;
    if (ctx.item !== undefined && !c.bad && dependsOnItem(c.expr)) {
      if (!builtFromItem(c.expr)) {
        this.sink.error(
          "not-constant",
          `an output path inside a for is built from literals, inputs and ${ctx.item.name} only`,
          arg.e.start,
          arg.e.end,
          `write: output("out/\${${ctx.item.name}.stem}.txt")`,
        );
        return ERR;
      }
      // Checked per item when the list is known: inside the project, one writer per file.
      ctx.step!.outputs.push("");
      return { expr: { kind: "itemOutput", path: c.expr }, type: T.String };
    }
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
    if (ctx.item !== undefined) {
      this.sink.error(
        "duplicate-output",
        `every item of this for would write ${norm}`,
        arg.e.start,
        arg.e.end,
        `build the path from the item: output("out/\${${ctx.item.name}.stem}.txt")`,
      );
      return ERR;
    }
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

  /**
   * The input files and patterns written as literals, for the checks only the file system can answer
   * (input-files.ts): a file() of a path some step writes is not an input (file-is-output says so).
   */
  protected literalInputs(): LiteralInputs {
    return {
      files: this.fileLiterals.filter((f) => !this.outputPaths.has(f.path)),
      globs: this.globLiterals,
    };
  }

  protected checkFileLiterals(): void {
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
}

function dependsOnItem(e: ValueExpr): boolean {
  switch (e.kind) {
    case "item":
      return true;
    case "concat":
      return e.parts.some(dependsOnItem);
    case "pathPart":
      return dependsOnItem(e.of);
    default:
      return false;
  }
}

/** Made of literals and the item only, so each item's path is known when the list is. */
function builtFromItem(e: ValueExpr): boolean {
  switch (e.kind) {
    case "item":
    case "lit":
      return true;
    case "concat":
      return e.parts.every(builtFromItem);
    case "pathPart":
      return builtFromItem(e.of);
    default:
      return false;
  }
}
