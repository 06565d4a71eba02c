import type { Expr, FlowAst, OptionNode, Span, Statement } from "./ast.js";
import { DiagnosticSink, LineMap, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { lex } from "./lexer.js";
import { ABANDON } from "./parse-cursor.js";
import { ExpressionParser } from "./parse-expressions.js";

/** Words that can never name a variable. */
export const RESERVED = new Set(["with", "true", "false"]);

/**
 * Parses a flow file. Synchronous and never throws: every problem becomes a diagnostic, and the parser
 * recovers at the next statement so that one run reports all the errors of a file.
 */
export function parseFlow(source: string, file: string): { ast: FlowAst; diagnostics: Diagnostic[] } {
  const sink = new DiagnosticSink(file, new LineMap(source));
  const ast = parseWith(source, file, sink);
  return { ast, diagnostics: sortDiagnostics(sink.list) };
}

/** The parser proper, reporting into a caller's sink (the compiler keeps one sink for all stages). */
export function parseWith(source: string, file: string, sink: DiagnosticSink): FlowAst {
  const tokens = lex(source, sink);
  return new Parser(source, file, tokens, sink).parseFile();
}

/** Statements: the top of the recursive descent (types and expressions are parsed by the layers below). */
class Parser extends ExpressionParser {
  /** An assignment whose value failed to parse is kept with an error value, to avoid "unknown x" later. */
  private pending: Statement | undefined;

  parseFile(): FlowAst {
    const statements: Statement[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.at("eof")) break;
      const before = this.pos;
      this.pending = undefined;
      try {
        const s = this.statement();
        statements.push(s);
        if (!this.at("newline") && !this.at("eof")) this.endOfStatementError(s);
      } catch (e) {
        if (e !== ABANDON) throw e;
        if (this.pending) statements.push(this.pending);
        this.pending = undefined;
        this.depth = 0;
        this.recover();
      }
      if (this.pos === before) this.pos++; // never loop without progress
    }
    return { file: this.file, statements };
  }

  // ---- statements -------------------------------------------------------------------------------

  private statement(): Statement {
    const t = this.peek();
    if (this.kindAt() !== "ident") {
      this.expected(
        "a statement",
        'a statement is name = expression, in name: Type, out name, use "file.ts" or pool name = N',
      );
    }
    const word = this.text(t);
    const b = this.kindAt(1);
    if (word === "use" && b === "str-start") return this.useStatement();
    if (word === "use" && b !== "=") {
      this.next();
      this.expected('a file name in quotes, as in use "./modules.ts"');
    }
    if (word === "in" && b === "ident") return this.inputStatement();
    if (word === "out" && b === "ident") return this.outStatement();
    if (word === "pool" && b === "ident") return this.poolStatement();
    if (b === "=") return this.assignStatement();
    if (b === "(") {
      this.fail(
        `the result of ${word}(...) must be given a name`,
        this.tokenSpan(t),
        `write: ${lowerFirst(word)} = ${word}(...)`,
      );
    }
    if (b === ":" && word !== "in") {
      this.fail(
        `unexpected ":" after ${word}`,
        this.tokenSpan(this.peek(1)),
        `declare an input with: in ${word}: Type`,
      );
    }
    this.next();
    return this.expected('"=" after the name', `write: ${word} = ...`);
  }

  private useStatement(): Statement {
    const kw = this.next();
    const str = this.stringExpr();
    const parts = (str as Extract<Expr, { kind: "string" }>).parts;
    if (parts.some((p) => typeof p !== "string")) {
      this.fail(
        "the file name of use cannot interpolate values",
        str,
        'write a plain path: use "./modules.ts"',
      );
    }
    const path = parts.join("");
    if (path === "") this.fail("use needs a file name", str, 'write: use "./modules.ts"');
    return {
      kind: "use",
      path,
      pathSpan: { start: str.start, end: str.end },
      start: this.startOf(kw),
      end: str.end,
    };
  }

  private inputStatement(): Statement {
    const kw = this.next();
    const nameTok = this.next();
    const name = this.text(nameTok);
    this.checkName(name, nameTok);
    if (!this.at(":")) this.expected('":" and a type after the input name', `write: in ${name}: String`);
    this.next();
    const type = this.type();
    let end = type.end;
    let dflt: Expr | undefined;
    if (this.at("=")) {
      this.next();
      dflt = this.expr();
      end = dflt.end;
    }
    const s: Statement = {
      kind: "input",
      name,
      nameSpan: this.tokenSpan(nameTok),
      type,
      start: this.startOf(kw),
      end,
    };
    if (dflt) s.default = dflt;
    return s;
  }

  private outStatement(): Statement {
    const kw = this.next();
    const names: { name: string; span: Span }[] = [];
    for (;;) {
      const t = this.expect("ident", "the name of a value to output");
      names.push({ name: this.text(t), span: this.tokenSpan(t) });
      if (!this.at(",")) break;
      this.next();
      this.skipNewlines();
    }
    return { kind: "out", names, start: this.startOf(kw), end: names[names.length - 1]!.span.end };
  }

  private poolStatement(): Statement {
    const kw = this.next();
    const nameTok = this.next();
    const name = this.text(nameTok);
    this.expect("=", '"=" and a capacity', `write: pool ${name} = 4`);
    const size = this.expr();
    return {
      kind: "pool",
      name,
      nameSpan: this.tokenSpan(nameTok),
      size,
      start: this.startOf(kw),
      end: size.end,
    };
  }

  private assignStatement(): Statement {
    const nameTok = this.next();
    const name = this.text(nameTok);
    this.checkName(name, nameTok);
    this.next(); // =
    const nameSpan = this.tokenSpan(nameTok);
    const s: Extract<Statement, { kind: "assign" }> = {
      kind: "assign",
      name,
      nameSpan,
      value: { kind: "error", start: nameSpan.start, end: nameSpan.end },
      options: [],
      start: nameSpan.start,
      end: nameSpan.end,
    };
    this.pending = s;
    if (this.at("newline") || this.at("eof")) this.expected("a value after =");
    s.value = this.expr();
    s.end = s.value.end;
    // `with` may start the next line.
    let k = 0;
    while (this.kindAt(k) === "newline") k++;
    if (this.atWord("with", k)) {
      this.pos += k;
      const w = this.next();
      s.withSpan = this.tokenSpan(w);
      s.end = this.endOf(w);
      this.skipNewlines();
      for (;;) {
        const opt = this.option();
        s.options.push(opt);
        s.end = opt.value.end;
        if (!this.at(",")) break;
        this.next();
        this.skipNewlines();
      }
    }
    this.pending = undefined;
    return s;
  }

  private option(): OptionNode {
    const t = this.peek();
    if (this.kindAt() !== "ident")
      this.expected("an option name", "options look like: with retry: 3, timeout: 2s");
    this.next();
    const name = this.text(t);
    if (!this.at(":")) this.expected(`":" after the option name ${name}`, `write: ${name}: value`);
    this.next();
    if (this.at("newline") || this.at("eof")) this.expected(`a value for ${name}`);
    const value = this.expr();
    return { name, nameSpan: this.tokenSpan(t), value };
  }

  private checkName(name: string, t: number): void {
    if (RESERVED.has(name)) {
      this.report(
        `"${name}" is a reserved word and cannot be a name`,
        this.tokenSpan(t),
        undefined,
        "reserved-name",
      );
    }
  }

  private endOfStatementError(s: Statement): void {
    const t = this.peek();
    const k = this.kindAt();
    let hint: string | undefined;
    if (s.kind === "assign" && s.options.length === 0 && k === "ident" && this.kindAt(1) === ":") {
      hint = `options go after "with": ... with ${this.text(t)}: ...`;
    } else if (k === "ident" || k === "str-start" || k === "int") {
      hint = "separate arguments with commas, and put each statement on its own line";
    }
    this.fail(`expected the end of the line, found ${this.describe(t)}`, this.tokenSpan(t), hint);
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
