import type { Span } from "./ast.js";
import type { DiagnosticSink } from "./diagnostics.js";
import { describeToken, type TokenBuffer, type TokenKind } from "./tokens.js";

/**
 * How deeply expressions and types may nest: brackets, calls, interpolations and each `.field` or
 * `[index]` of a chain count one level. The checker, lowering and evaluation recurse along the same
 * nesting, so this one limit keeps all of them off the end of the stack.
 */
export const MAX_DEPTH = 256;

/** Thrown inside the parser to abandon a statement; caught at statement level. */
class Abandon {}
export const ABANDON = new Abandon();

/**
 * The parser's position in the token stream, its error reporting and its recovery. The parser is a
 * stack of classes, one per concern (cursor, then types and expressions, then statements), so that each
 * file stays small while the recursive descent still calls along `this` without a closure per call.
 */
export abstract class ParseCursor {
  protected pos = 0;
  protected depth = 0;
  /** Lines (0-based) that already have an error: a second parse error there is noise. */
  protected readonly badLines = new Set<number>();

  constructor(
    protected readonly source: string,
    protected readonly file: string,
    protected readonly tokens: TokenBuffer,
    protected readonly sink: DiagnosticSink,
  ) {
    for (const d of sink.list) if (d.severity === "error") this.badLines.add(d.line - 1);
  }

  // ---- token helpers ----------------------------------------------------------------------------

  /** Index of the token `k` ahead (tokens are parallel arrays; see TokenBuffer). */
  protected peek(k = 0): number {
    return Math.min(this.pos + k, this.tokens.count - 1);
  }

  protected kindAt(k = 0): TokenKind {
    return this.tokens.kind(this.peek(k));
  }

  protected at(kind: TokenKind): boolean {
    return this.tokens.kind(this.peek()) === kind;
  }

  protected atWord(word: string, k = 0): boolean {
    const t = this.peek(k);
    return this.tokens.kind(t) === "ident" && this.text(t) === word;
  }

  protected next(): number {
    const t = this.peek();
    if (this.pos < this.tokens.count - 1) this.pos++;
    return t;
  }

  protected text(t: number): string {
    return this.source.slice(this.tokens.start[t], this.tokens.end[t]);
  }

  protected startOf(t: number): number {
    return this.tokens.start[t]!;
  }

  protected endOf(t: number): number {
    return this.tokens.end[t]!;
  }

  protected describe(t: number): string {
    return describeToken(this.tokens.kind(t), this.text(t));
  }

  protected skipNewlines(): void {
    while (this.at("newline")) this.pos++;
  }

  /** Reports (unless the line already has an error) and abandons the statement. */
  protected fail(message: string, at: Span, hint?: string, code = "syntax"): never {
    this.report(message, at, hint, code);
    throw ABANDON;
  }

  protected report(message: string, at: Span, hint?: string, code = "syntax"): void {
    const line = this.sink.lines.lineIndex(at.start);
    if (this.badLines.has(line)) return;
    this.badLines.add(line);
    this.sink.error(code, message, at.start, Math.max(at.end, at.start + 1), hint);
  }

  /** Steps one level deeper; past MAX_DEPTH, reports where (with the limit and the fix) and abandons. */
  protected deeper(what: "expression" | "type"): void {
    if (++this.depth <= MAX_DEPTH) return;
    this.fail(
      `${what} nested more than ${MAX_DEPTH} levels deep`,
      this.tokenSpan(this.peek()),
      what === "type"
        ? "flatten the type, or use Any for the inner part and check it in a module"
        : "give an inner part a name (inner = ...) and use the name: brackets, calls, strings and each .field or [index] count as a level",
      "too-deep",
    );
  }

  protected expected(what: string, hint?: string): never {
    const t = this.peek();
    this.fail(`expected ${what}, found ${this.describe(t)}`, this.tokenSpan(t), hint);
  }

  /** A token's span; for the start of a string, the whole string (to underline all of it). */
  protected tokenSpan(t: number): Span {
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

  protected expect(kind: TokenKind, what: string, hint?: string): number {
    if (this.at(kind)) return this.next();
    return this.expected(what, hint);
  }

  /** Skips to the end of the broken statement: a line break outside brackets, or a new statement. */
  protected recover(): void {
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
  protected looksLikeStatement(): boolean {
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

  protected lineStart(offset: number): number {
    let i = offset;
    while (i > 0 && this.source.charCodeAt(i - 1) !== 10) {
      const c = this.source.charCodeAt(i - 1);
      if (c !== 32 && c !== 9) return -1;
      i--;
    }
    return offset;
  }
}
