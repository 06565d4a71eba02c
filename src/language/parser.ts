import type { Rate } from "../graph/ir.js";
import type { Expr, FlowAst, OptionNode, RecordField, Span, Statement, TypeNode } from "./ast.js";
import { DiagnosticSink, LineMap, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { describeToken, lex, type TokenBuffer, type TokenKind } from "./lexer.js";

/** Words that can never name a variable. */
export const RESERVED = new Set(["with", "true", "false"]);

const MAX_DEPTH = 200;

/** Thrown inside the parser to abandon a statement; caught at statement level. */
class Abandon {}
const ABANDON = new Abandon();

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

class Parser {
  private pos = 0;
  private depth = 0;
  /** Lines (0-based) that already have an error: a second parse error there is noise. */
  private readonly badLines = new Set<number>();
  /** An assignment whose value failed to parse is kept with an error value, to avoid "unknown x" later. */
  private pending: Statement | undefined;

  constructor(
    private readonly source: string,
    private readonly file: string,
    private readonly tokens: TokenBuffer,
    private readonly sink: DiagnosticSink,
  ) {
    for (const d of sink.list) if (d.severity === "error") this.badLines.add(d.line - 1);
  }

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

  // ---- token helpers ----------------------------------------------------------------------------

  /** Index of the token `k` ahead (tokens are parallel arrays; see TokenBuffer). */
  private peek(k = 0): number {
    return Math.min(this.pos + k, this.tokens.count - 1);
  }

  private kindAt(k = 0): TokenKind {
    return this.tokens.kind(this.peek(k));
  }

  private at(kind: TokenKind): boolean {
    return this.tokens.kind(this.peek()) === kind;
  }

  private atWord(word: string, k = 0): boolean {
    const t = this.peek(k);
    return this.tokens.kind(t) === "ident" && this.text(t) === word;
  }

  private next(): number {
    const t = this.peek();
    if (this.pos < this.tokens.count - 1) this.pos++;
    return t;
  }

  private text(t: number): string {
    return this.source.slice(this.tokens.start[t], this.tokens.end[t]);
  }

  private startOf(t: number): number {
    return this.tokens.start[t]!;
  }

  private endOf(t: number): number {
    return this.tokens.end[t]!;
  }

  private describe(t: number): string {
    return describeToken(this.tokens.kind(t), this.text(t));
  }

  private skipNewlines(): void {
    while (this.at("newline")) this.pos++;
  }

  /** Reports (unless the line already has an error) and abandons the statement. */
  private fail(message: string, at: Span, hint?: string, code = "syntax"): never {
    this.report(message, at, hint, code);
    throw ABANDON;
  }

  private report(message: string, at: Span, hint?: string, code = "syntax"): void {
    const line = this.sink.lines.lineIndex(at.start);
    if (this.badLines.has(line)) return;
    this.badLines.add(line);
    this.sink.error(code, message, at.start, Math.max(at.end, at.start + 1), hint);
  }

  private expected(what: string, hint?: string): never {
    const t = this.peek();
    this.fail(`expected ${what}, found ${this.describe(t)}`, this.tokenSpan(t), hint);
  }

  /** A token's span; for the start of a string, the whole string (to underline all of it). */
  private tokenSpan(t: number): Span {
    const tokens = this.tokens;
    if (tokens.kind(t) === "str-start") {
      let depth = 0;
      for (let i = t; i < tokens.count; i++) {
        const k = tokens.kind(i);
        if (k === "str-start") depth++;
        else if (k === "str-end" && --depth === 0) return { start: this.startOf(t), end: this.endOf(i) };
      }
    }
    return { start: this.startOf(t), end: this.endOf(t) };
  }

  private expect(kind: TokenKind, what: string, hint?: string): number {
    if (this.at(kind)) return this.next();
    return this.expected(what, hint);
  }

  /** Skips to the end of the broken statement: a line break outside brackets, or a new statement. */
  private recover(): void {
    let depth = 0;
    for (;;) {
      const k = this.kindAt();
      if (k === "eof") return;
      if (k === "newline") {
        this.pos++;
        if (depth <= 0 || this.looksLikeStatement()) return;
        continue;
      }
      if (k === "(" || k === "[" || k === "{") depth++;
      else if (k === ")" || k === "]" || k === "}") depth--;
      this.pos++;
    }
  }

  /** True when the tokens at the cursor begin a statement (used to spot an unclosed bracket). */
  private looksLikeStatement(): boolean {
    if (this.kindAt() !== "ident") return false;
    const b = this.kindAt(1);
    if (b === "=") return true;
    const a = this.peek();
    const w = this.text(a);
    if (w === "use") return b === "str-start";
    if (w === "in") return b === "ident" && this.kindAt(2) === ":";
    if (w === "pool") return b === "ident" && this.kindAt(2) === "=";
    if (w === "out") return b === "ident" && this.startOf(a) === this.lineStart(this.startOf(a));
    return false;
  }

  private lineStart(offset: number): number {
    let i = offset;
    while (i > 0 && this.source.charCodeAt(i - 1) !== 10) {
      const c = this.source.charCodeAt(i - 1);
      if (c !== 32 && c !== 9) return -1;
      i--;
    }
    return offset;
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

  // ---- types ------------------------------------------------------------------------------------

  private type(): TypeNode {
    if (++this.depth > MAX_DEPTH) this.fail("type nested too deeply", this.tokenSpan(this.peek()));
    try {
      const t = this.peek();
      const k = this.kindAt();
      if (k === "{") {
        this.next();
        const fields: { name: string; nameSpan: Span; type: TypeNode }[] = [];
        const end = this.sequence(t, "}", SEQ_RECORD_TYPE, fields);
        return { kind: "record", fields, start: this.startOf(t), end };
      }
      if (k !== "ident") {
        this.expected("a type", "types: String, Int, Float, Bool, File, List<T>, Optional<T>, Any, { a: T }");
      }
      this.next();
      const name = this.text(t);
      const args: TypeNode[] = [];
      let end = this.endOf(t);
      if (this.at("<")) {
        this.next();
        for (;;) {
          args.push(this.type());
          if (!this.at(",")) break;
          this.next();
        }
        end = this.endOf(this.expect(">", `">" to close ${name}<...>`));
      }
      return { kind: "named", name, nameSpan: this.tokenSpan(t), args, start: this.startOf(t), end };
    } finally {
      this.depth--;
    }
  }

  private recordTypeField(out: { name: string; nameSpan: Span; type: TypeNode }[]): void {
    const f = this.expect("ident", "a field name");
    this.expect(":", `":" and the type of field ${this.text(f)}`);
    out.push({ name: this.text(f), nameSpan: this.tokenSpan(f), type: this.type() });
  }

  // ---- expressions ------------------------------------------------------------------------------

  private expr(): Expr {
    if (++this.depth > MAX_DEPTH) {
      this.fail("expression nested too deeply", this.tokenSpan(this.peek()), "split it into named steps");
    }
    try {
      let e = this.primary();
      for (;;) {
        const k = this.kindAt();
        if (k === ".") {
          this.next();
          const t = this.peek();
          const tk = this.kindAt();
          if (tk === "ident") {
            this.next();
            e = {
              kind: "field",
              target: e,
              name: this.text(t),
              nameSpan: this.tokenSpan(t),
              start: e.start,
              end: this.endOf(t),
            };
          } else if (tk === "int" && (this.tokens.value[t] as number) >= 0) {
            this.next();
            const index: Expr = {
              kind: "int",
              value: this.tokens.value[t] as number,
              start: this.startOf(t),
              end: this.endOf(t),
            };
            e = { kind: "index", target: e, index, start: e.start, end: this.endOf(t) };
          } else {
            this.expected('a field name after "."');
          }
        } else if (k === "[") {
          this.next();
          const index = this.expr();
          const close = this.expect("]", '"]" to close the index');
          e = { kind: "index", target: e, index, start: e.start, end: this.endOf(close) };
        } else if (k === "(") {
          this.fail(
            "only a module or built-in can be called",
            this.tokenSpan(this.peek()),
            "call it by name: Module(...)",
          );
        } else {
          return e;
        }
      }
    } finally {
      this.depth--;
    }
  }

  private primary(): Expr {
    const t = this.peek();
    const start = this.startOf(t);
    const end = this.endOf(t);
    switch (this.kindAt()) {
      case "ident": {
        this.next();
        const name = this.text(t);
        if (this.at("(")) {
          const open = this.next();
          const args: Expr[] = [];
          const close = this.sequence(open, ")", SEQ_ARGS, args);
          return { kind: "call", callee: name, calleeSpan: { start, end }, args, start, end: close };
        }
        if (name === "true" || name === "false") return { kind: "bool", value: name === "true", start, end };
        if (name === "with") this.fail('"with" must follow a step: x = F(a) with retry: 3', { start, end });
        return { kind: "ident", name, start, end };
      }
      case "int":
        this.next();
        return { kind: "int", value: this.tokens.value[t] as number, start, end };
      case "float":
        this.next();
        return { kind: "float", value: this.tokens.value[t] as number, start, end };
      case "duration":
        this.next();
        return { kind: "duration", ms: this.tokens.value[t] as number, start, end };
      case "rate":
        this.next();
        return { kind: "rate", rate: this.tokens.value[t] as Rate | undefined, start, end };
      case "str-start":
        return this.stringExpr();
      case "[": {
        this.next();
        const items: Expr[] = [];
        const close = this.sequence(t, "]", SEQ_LIST, items);
        return { kind: "list", items, start, end: close };
      }
      case "{": {
        this.next();
        const fields: RecordField[] = [];
        const close = this.sequence(t, "}", SEQ_RECORD, fields);
        return { kind: "record", fields, start, end: close };
      }
      case "(": {
        this.next();
        if (!this.skipInside(t, ")")) return { kind: "error", start, end };
        const e = this.expr();
        if (!this.skipInside(t, ")")) return e;
        this.expect(")", '")"');
        return e;
      }
      default:
        return this.expected("a value", this.valueHint());
    }
  }

  private argument(out: Expr[]): void {
    if (this.kindAt() === "ident" && this.kindAt(1) === ":") {
      this.fail(
        "arguments are passed by position, not by name",
        { start: this.startOf(this.peek()), end: this.endOf(this.peek(1)) },
        `remove "${this.text(this.peek())}:"`,
      );
    }
    out.push(this.expr());
  }

  private recordField(out: RecordField[]): void {
    const k = this.peek();
    let name: string;
    let nameSpan: Span;
    if (this.kindAt() === "ident") {
      this.next();
      name = this.text(k);
      nameSpan = this.tokenSpan(k);
    } else if (this.kindAt() === "str-start") {
      const s = this.stringExpr() as Extract<Expr, { kind: "string" }>;
      if (s.parts.some((p) => typeof p !== "string")) this.fail("a field name cannot interpolate values", s);
      name = s.parts.join("");
      nameSpan = { start: s.start, end: s.end };
    } else {
      this.expected("a field name", "records look like { name: value, other: value }");
    }
    this.expect(":", `":" after the field name ${name}`);
    this.skipNewlines();
    out.push({ name, nameSpan, value: this.expr() });
  }

  private valueHint(): string | undefined {
    const k = this.kindAt();
    if (k === ")" || k === "]" || k === "}" || k === ",")
      return "remove the extra punctuation, or add the missing value";
    return undefined;
  }

  /**
   * Comma-separated items up to `close`, across lines, with an optional trailing comma. A missing
   * close is reported at the open bracket when a new statement (or the end of the file) shows up.
   * Returns the end offset. (Items are parsed by kind rather than by a callback: no closure per list.)
   */
  private sequence(open: number, close: TokenKind, what: Seq, out: unknown[]): number {
    for (;;) {
      if (!this.skipInside(open, close)) return this.startOf(this.peek());
      if (this.at(close)) return this.endOf(this.next());
      if (what === SEQ_ARGS) this.argument(out as Expr[]);
      else if (what === SEQ_LIST) out.push(this.expr());
      else if (what === SEQ_RECORD) this.recordField(out as RecordField[]);
      else this.recordTypeField(out as { name: string; nameSpan: Span; type: TypeNode }[]);
      if (!this.skipInside(open, close)) return this.startOf(this.peek());
      if (this.at(",")) {
        this.next();
        continue;
      }
      if (this.at(close)) return this.endOf(this.next());
      const k = this.kindAt();
      const hint =
        k === "ident" || k === "str-start" || k === "int" || k === "float"
          ? "separate items with commas"
          : undefined;
      this.fail(
        `expected "," or "${close}", found ${this.describe(this.peek())}`,
        this.tokenSpan(this.peek()),
        hint,
      );
    }
  }

  /** Skips line breaks inside brackets; false (after reporting) when the bracket was never closed. */
  private skipInside(open: number, close: TokenKind): boolean {
    const k = this.kindAt();
    if (k !== "newline" && k !== "eof" && k !== "interp-close" && k !== "str-end") return true;
    if (k === "newline") {
      const save = this.pos;
      this.skipNewlines();
      if (!this.looksLikeStatement() && !this.at("eof")) return true;
      this.pos = save;
    }
    this.report(`"${this.text(open)}" is never closed`, this.tokenSpan(open), `add "${close}"`, "unclosed");
    if (this.at("interp-close") || this.at("str-end")) throw ABANDON;
    return false;
  }

  private stringExpr(): Expr {
    const open = this.expect("str-start", "a string");
    const parts: (string | Expr)[] = [];
    for (;;) {
      const t = this.peek();
      const k = this.kindAt();
      if (k === "str-text") {
        this.next();
        const s = this.tokens.value[t] as string;
        const last = parts.length > 0 ? parts[parts.length - 1] : undefined;
        if (typeof last === "string") parts[parts.length - 1] = last + s;
        else parts.push(s);
      } else if (k === "interp-open") {
        this.next();
        if (this.at("interp-close")) {
          this.fail(
            "empty ${} in a string",
            { start: this.startOf(t), end: this.endOf(this.peek()) },
            "put a value inside, or write \\${ for a literal ${",
          );
        }
        parts.push(this.expr());
        if (!this.at("interp-close")) this.expected('"}" to close "${"');
        this.next();
      } else if (k === "str-end") {
        this.next();
        return { kind: "string", parts, start: this.startOf(open), end: this.endOf(t) };
      } else {
        // Cannot happen with a balanced token stream, but never loop forever.
        this.expected("the end of the string");
      }
    }
  }
}

type Seq = 0 | 1 | 2 | 3;
const SEQ_ARGS: Seq = 0;
const SEQ_LIST: Seq = 1;
const SEQ_RECORD: Seq = 2;
const SEQ_RECORD_TYPE: Seq = 3;

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
