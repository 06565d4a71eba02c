import type { Rate } from "../graph/ir.js";
import type { Expr, RecordField, Span, TypeNode } from "./ast.js";
import { ABANDON, ParseCursor } from "./parse-cursor.js";
import type { TokenKind } from "./tokens.js";

/** Types and expressions: everything that can stand on the right of `=`, `:` or inside brackets. */
export abstract class ExpressionParser extends ParseCursor {
  // ---- types ------------------------------------------------------------------------------------

  protected type(): TypeNode {
    const depth = this.depth;
    try {
      this.deeper("type");
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
      this.depth = depth;
    }
  }

  protected recordTypeField(out: { name: string; nameSpan: Span; type: TypeNode }[]): void {
    const f = this.expect("ident", "a field name");
    this.expect(":", `":" and the type of field ${this.text(f)}`);
    out.push({ name: this.text(f), nameSpan: this.tokenSpan(f), type: this.type() });
  }

  // ---- expressions ------------------------------------------------------------------------------

  protected expr(): Expr {
    const depth = this.depth;
    try {
      this.deeper("expression");
      let e = this.primary();
      for (;;) {
        const k = this.kindAt();
        // Each link of a chain nests the tree one level more (a.b.c is (a.b).c): it counts as depth.
        if (k === "." || k === "[") this.deeper("expression");
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
      this.depth = depth;
    }
  }

  protected primary(): Expr {
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
        if (name === "for" && this.kindAt() === "ident" && this.isWord(1, "in")) return this.forExpr(start);
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

  /** After `for`: `name in list: Call(...)`. */
  protected forExpr(start: number): Expr {
    const n = this.next();
    this.next(); // in
    const list = this.expr();
    this.expect(":", `":" and the call to run for each ${this.text(n)}`);
    this.skipNewlines();
    const body = this.expr();
    return {
      kind: "for",
      name: this.text(n),
      nameSpan: this.tokenSpan(n),
      list,
      body,
      start,
      end: body.end,
    };
  }

  private isWord(ahead: number, word: string): boolean {
    return this.kindAt(ahead) === "ident" && this.text(this.peek(ahead)) === word;
  }

  protected argument(out: Expr[]): void {
    if (this.kindAt() === "ident" && this.kindAt(1) === ":") {
      this.fail(
        "arguments are passed by position, not by name",
        { start: this.startOf(this.peek()), end: this.endOf(this.peek(1)) },
        `remove "${this.text(this.peek())}:"`,
      );
    }
    out.push(this.expr());
  }

  protected recordField(out: RecordField[]): void {
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

  protected valueHint(): string | undefined {
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
  protected sequence(open: number, close: TokenKind, what: Seq, out: unknown[]): number {
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
  protected skipInside(open: number, close: TokenKind): boolean {
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

  protected stringExpr(): Expr {
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
