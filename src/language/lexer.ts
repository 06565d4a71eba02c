import { DURATION_UNITS } from "../graph/units.js";
import type { DiagnosticSink } from "./diagnostics.js";
import { TokenBuffer, type Token, type TokenKind } from "./tokens.js";

export type { Token, TokenKind } from "./tokens.js";

const enum C {
  Tab = 9,
  LF = 10,
  CR = 13,
  Space = 32,
  Quote = 34,
  Hash = 35,
  Dollar = 36,
  LParen = 40,
  RParen = 41,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Slash = 47,
  D0 = 48,
  D9 = 57,
  Colon = 58,
  Lt = 60,
  Eq = 61,
  Gt = 62,
  LBracket = 91,
  Backslash = 92,
  RBracket = 93,
  Underscore = 95,
  LBrace = 123,
  RBrace = 125,
}

const isDigit = (c: number): boolean => c >= C.D0 && c <= C.D9;
const isIdentStart = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === C.Underscore;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c);
/** 2 for a surrogate pair (one code point), else 1. */
const charLength = (s: string, i: number): number => {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
};

const SINGLE: Record<number, TokenKind> = {
  [C.LParen]: "(",
  [C.RParen]: ")",
  [C.LBracket]: "[",
  [C.RBracket]: "]",
  [C.Comma]: ",",
  [C.Colon]: ":",
  [C.Dot]: ".",
  [C.Eq]: "=",
  [C.Lt]: "<",
  [C.Gt]: ">",
};

/** What the lexer is inside of: a string, or the code of an interpolation with its open-brace depth. */
interface Frame {
  kind: "string" | "interp";
  start: number;
  depth: number;
}

/**
 * Splits a flow file into tokens. Never throws: problems become diagnostics and the token stream stays
 * balanced (an unterminated string still gets its str-end) so that the parser can carry on.
 * Newlines are always tokens (collapsed); the parser decides where they matter.
 */
export function tokenize(source: string, sink: DiagnosticSink): Token[] {
  return lex(source, sink).toTokens();
}

/** {@link tokenize}, in the compact form the parser reads. */
export function lex(source: string, sink: DiagnosticSink): TokenBuffer {
  return new Lexer(source, sink).run();
}

/** A class rather than closures: this is the hot loop of parsing, and it allocates only tokens. */
class Lexer {
  private readonly tokens: TokenBuffer;
  private readonly stack: Frame[] = [];
  private i = 0;

  constructor(
    private readonly source: string,
    private readonly sink: DiagnosticSink,
  ) {
    this.tokens = new TokenBuffer((source.length >> 1) + 16);
  }

  run(): TokenBuffer {
    const source = this.source;
    if (source.charCodeAt(0) === 0xfeff) this.i = 1; // a byte-order mark is not content
    const n = source.length;
    const stack = this.stack;
    const tokens = this.tokens;
    while (this.i < n) {
      const top = stack.length > 0 ? stack[stack.length - 1] : undefined;
      if (top !== undefined && top.kind === "string") {
        this.stringText();
        continue;
      }
      const i = this.i;
      const c = source.charCodeAt(i);
      if (c === C.Space || c === C.Tab || c === C.CR) {
        this.i++;
        continue;
      }
      if (c === C.LF) {
        if (stack.length > 0) this.unterminated(i);
        const last = tokens.lastKind();
        if (last !== undefined && last !== "newline") tokens.push("newline", i, i + 1);
        this.i++;
        continue;
      }
      if (c === C.Hash) {
        const eol = source.indexOf("\n", i);
        this.i = eol === -1 ? n : eol;
        continue;
      }
      if (isIdentStart(c)) {
        let j = i + 1;
        while (j < n && isIdentPart(source.charCodeAt(j))) j++;
        tokens.push("ident", i, j);
        this.i = j;
        continue;
      }
      if (isDigit(c) || (c === C.Minus && isDigit(source.charCodeAt(i + 1)))) {
        this.number();
        continue;
      }
      if (c === C.Quote) {
        tokens.push("str-start", i, i + 1);
        stack.push({ kind: "string", start: i, depth: 0 });
        this.i++;
        continue;
      }
      if (c === C.LBrace) {
        if (top !== undefined) top.depth++;
        tokens.push("{", i, i + 1);
        this.i++;
        continue;
      }
      if (c === C.RBrace) {
        this.i++;
        if (top !== undefined) {
          if (top.depth === 0) {
            stack.pop();
            tokens.push("interp-close", i, i + 1);
            continue;
          }
          top.depth--;
        }
        tokens.push("}", i, i + 1);
        continue;
      }
      const single = SINGLE[c];
      if (single !== undefined) {
        tokens.push(single, i, i + 1);
        this.i++;
        continue;
      }
      this.strayCharacter(c);
    }
    if (stack.length > 0) this.unterminated(n);
    tokens.push("eof", n, n);
    return tokens;
  }

  /** Anything else: reported and skipped. */
  private strayCharacter(c: number): void {
    const start = this.i;
    if (c === 39) {
      // 'text': say so once, and read it as the string it was meant to be.
      const close = this.source.indexOf("'", start + 1);
      const eol = this.source.indexOf("\n", start + 1);
      if (close !== -1 && (eol === -1 || close < eol)) {
        const text = this.source.slice(start + 1, close);
        this.sink.error(
          "single-quotes",
          "strings use double quotes",
          start,
          close + 1,
          `write ${JSON.stringify(text)}`,
        );
        this.tokens.push("str-start", start, start + 1);
        if (close > start + 1) this.tokens.push("str-text", start + 1, close, text);
        this.tokens.push("str-end", close, close + 1);
        this.i = close + 1;
        return;
      }
    }
    // A run of stray characters (spaces between them included) is one diagnostic, not one each: a file
    // of 20,000 NUL bytes gets one line of output, and the work stays linear.
    const source = this.source;
    const n = source.length;
    let end = start + charLength(source, start);
    let count = 1;
    for (let j = end; j < n;) {
      while (j < n && (source.charCodeAt(j) === C.Space || source.charCodeAt(j) === C.Tab)) j++;
      if (j >= n || !this.isStray(j)) break;
      j += charLength(source, j);
      end = j;
      count++;
    }
    this.i = end;
    let hint: string | undefined;
    if (c === 39) hint = 'strings use double quotes: "text"';
    else if (c === C.Slash) hint = "a rate is written like 20/s or 100/1min";
    else if (c === C.Minus) hint = "there is no arithmetic in flow files; compute it in a module";
    else if (c === 59) hint = "put each statement on its own line";
    if (count === 1) {
      const shown = String.fromCodePoint(source.codePointAt(start)!);
      this.sink.error(
        "unexpected-character",
        `unexpected character ${JSON.stringify(shown)}`,
        start,
        end,
        hint,
      );
      return;
    }
    const text = source.slice(start, end);
    const shown = text.length > 8 ? `${[...text.slice(0, 8)].join("")}…` : text;
    this.sink.error(
      "unexpected-character",
      `unexpected characters ${JSON.stringify(shown)} (${count} of them)`,
      start,
      end,
      hint ?? "flow files are text: names, numbers, strings, brackets and punctuation , : . = < >",
    );
  }

  /** True when the character at `j` (outside a string) starts no token: strayCharacter would take it. */
  private isStray(j: number): boolean {
    const c = this.source.charCodeAt(j);
    if (c === C.Space || c === C.Tab || c === C.CR || c === C.LF || c === C.Hash || c === C.Quote)
      return false;
    if (c === 39 || c === C.LBrace || c === C.RBrace || SINGLE[c] !== undefined) return false;
    if (isIdentStart(c) || isDigit(c)) return false;
    return !(c === C.Minus && isDigit(this.source.charCodeAt(j + 1)));
  }

  /** Closes every open string at `at` (a line break or the end of the file). */
  private unterminated(at: number): void {
    const stack = this.stack;
    let outer: Frame | undefined;
    for (let k = stack.length - 1; k >= 0; k--) {
      const f = stack[k]!;
      if (f.kind === "string") {
        outer = f;
        this.tokens.push("str-end", at, at);
      } else this.tokens.push("interp-close", at, at);
    }
    stack.length = 0;
    if (outer) {
      this.sink.error(
        "unterminated-string",
        "unterminated string",
        outer.start,
        Math.max(outer.start + 1, at),
        'close it with " on the same line',
      );
    }
  }

  /** The text of a string up to its end, a `${`, or a line break. */
  private stringText(): void {
    const source = this.source;
    const tokens = this.tokens;
    const n = source.length;
    const start = this.i;
    let i = start;
    let text = "";
    let chunk = i;
    while (i < n) {
      const c = source.charCodeAt(i);
      if (c === C.Quote) {
        if (i > start) tokens.push("str-text", start, i, text + source.slice(chunk, i));
        tokens.push("str-end", i, i + 1);
        this.stack.pop();
        this.i = i + 1;
        return;
      }
      if (c === C.LF || (c === C.CR && source.charCodeAt(i + 1) === C.LF)) {
        if (i > start) tokens.push("str-text", start, i, text + source.slice(chunk, i));
        this.unterminated(i);
        this.i = i;
        return;
      }
      if (c === C.Dollar && source.charCodeAt(i + 1) === C.LBrace) {
        if (i > start) tokens.push("str-text", start, i, text + source.slice(chunk, i));
        tokens.push("interp-open", i, i + 2);
        this.stack.push({ kind: "interp", depth: 0, start: i });
        this.i = i + 2;
        return;
      }
      if (c === C.Backslash) {
        text += source.slice(chunk, i);
        const e = source.charCodeAt(i + 1);
        if (i + 1 >= n || e === C.LF || (e === C.CR && source.charCodeAt(i + 2) === C.LF)) {
          // A backslash at the end of the line: the line break ends (and reports) the string.
          i++;
          chunk = i;
          continue;
        }
        const esc = this.escape(i);
        text += esc.text;
        i += esc.length;
        chunk = i;
        continue;
      }
      i++;
    }
    if (i > start) tokens.push("str-text", start, i, text + source.slice(chunk, i));
    this.unterminated(i);
    this.i = i;
  }

  /** The escape at `i` (a backslash): its text and length. Unknown escapes are reported and kept. */
  private escape(i: number): { text: string; length: number } {
    const source = this.source;
    const e = source.charCodeAt(i + 1);
    switch (e) {
      case 110:
        return { text: "\n", length: 2 };
      case 116:
        return { text: "\t", length: 2 };
      case 114:
        return { text: "\r", length: 2 };
      case 48:
        return { text: "\0", length: 2 };
      case C.Backslash:
        return { text: "\\", length: 2 };
      case C.Quote:
        return { text: '"', length: 2 };
      case C.Dollar:
        return { text: "$", length: 2 };
      case 117: {
        // \u{1F600}
        const m = /^u\{([0-9a-fA-F]{1,6})\}/.exec(source.slice(i + 1, i + 11));
        const cp = m ? parseInt(m[1]!, 16) : NaN;
        if (m && cp <= 0x10ffff) return { text: String.fromCodePoint(cp), length: 1 + m[0].length };
        break;
      }
    }
    const cp = source.codePointAt(i + 1)!;
    const ch = String.fromCodePoint(cp);
    this.sink.error(
      "bad-escape",
      `unknown escape \\${ch}`,
      i,
      i + 1 + ch.length,
      'use \\n, \\t, \\r, \\0, \\\\, \\", \\$ or \\u{hex}',
    );
    return { text: ch, length: 1 + ch.length };
  }

  /** Int, Float, Duration (`150ms`, `1.5h`) or Rate (`20/s`, `100/1min`). */
  private number(): void {
    const source = this.source;
    const tokens = this.tokens;
    const n = source.length;
    const start = this.i;
    let i = start;
    if (source.charCodeAt(i) === C.Minus) i++;
    while (i < n && isDigit(source.charCodeAt(i))) i++;
    let isFloat = false;
    if (source.charCodeAt(i) === C.Dot && isDigit(source.charCodeAt(i + 1))) {
      isFloat = true;
      i++;
      while (i < n && isDigit(source.charCodeAt(i))) i++;
    }
    const num = Number(source.slice(start, i));
    if (isIdentStart(source.charCodeAt(i))) {
      // A unit glued to the number makes it a duration.
      const us = i;
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
      const unit = source.slice(us, i);
      const scale = DURATION_UNITS[unit];
      this.i = i;
      if (scale === undefined) {
        this.sink.error(
          "bad-number",
          `unknown unit "${unit}" in ${source.slice(start, i)}`,
          start,
          i,
          "durations use ms, s, min or h (150ms, 2s, 5min, 1h)",
        );
        tokens.push(isFloat ? "float" : "int", start, i, num);
        return;
      }
      tokens.push("duration", start, i, num * scale);
      return;
    }
    if (source.charCodeAt(i) === C.Slash) {
      // A rate: tokens per (optional count of) a unit.
      i++;
      const ps = i;
      while (i < n && isDigit(source.charCodeAt(i))) i++;
      if (source.charCodeAt(i) === C.Dot && isDigit(source.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(source.charCodeAt(i))) i++;
      }
      const per = i > ps ? Number(source.slice(ps, i)) : 1;
      const us = i;
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
      const scale = DURATION_UNITS[source.slice(us, i)];
      this.i = i;
      if (scale === undefined) {
        this.sink.error(
          "bad-rate",
          `${source.slice(start, i)} is not a rate`,
          start,
          Math.max(i, start + 1),
          "write a rate like 20/s, 100/1min or 5/250ms",
        );
        tokens.push("rate", start, i);
        return;
      }
      tokens.push("rate", start, i, { tokens: num, perMs: per * scale });
      return;
    }
    this.i = i;
    tokens.push(isFloat ? "float" : "int", start, i, num);
  }
}
