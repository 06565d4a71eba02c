/** The tokens of a flow file, as the lexer produces them and the parser reads them. */
import type { Rate } from "../graph/ir.js";

export type TokenKind =
  | "eof"
  | "newline"
  | "ident"
  | "int"
  | "float"
  | "duration"
  | "rate"
  /** `"` opening a string; followed by str-text / interp-open ... interp-close, then str-end. */
  | "str-start"
  | "str-text"
  /** `${` inside a string. */
  | "interp-open"
  /** The `}` that closes an interpolation. */
  | "interp-close"
  | "str-end"
  | "("
  | ")"
  | "["
  | "]"
  | "{"
  | "}"
  | ","
  | ":"
  | "."
  | "="
  | "<"
  | ">";

export interface Token {
  kind: TokenKind;
  /** 0-based offsets, `end` exclusive. */
  start: number;
  end: number;
  /** int/float: the number; duration: milliseconds; rate: the Rate (undefined when invalid); str-text: cooked text. */
  value?: number | string | Rate;
}

/**
 * Tokens in parallel arrays: no object per token, which matters for 10,000-line flows (the garbage
 * collector otherwise dominates parsing).
 */
export class TokenBuffer {
  private codes: Uint8Array;
  /** Values by token index; most tokens have none (a packed array of undefined costs no objects). */
  value: Token["value"][];
  start: Int32Array;
  end: Int32Array;
  count = 0;

  constructor(capacity: number) {
    const cap = Math.max(16, capacity);
    this.codes = new Uint8Array(cap);
    this.start = new Int32Array(cap);
    this.end = new Int32Array(cap);
    this.value = new Array<Token["value"]>(cap).fill(undefined);
  }

  kind(i: number): TokenKind {
    return KINDS[this.codes[i]!]!;
  }

  push(kind: TokenKind, start: number, end: number, value?: Token["value"]): void {
    const c = this.count;
    if (c === this.start.length) this.grow();
    this.codes[c] = KIND_CODE[kind];
    this.start[c] = start;
    this.end[c] = end;
    if (value !== undefined) this.value[c] = value;
    this.count = c + 1;
  }

  private grow(): void {
    const cap = this.start.length * 2;
    const codes = new Uint8Array(cap);
    codes.set(this.codes);
    this.codes = codes;
    const s = new Int32Array(cap);
    s.set(this.start);
    this.start = s;
    const e = new Int32Array(cap);
    e.set(this.end);
    this.end = e;
    const v = new Array<Token["value"]>(cap).fill(undefined);
    for (let i = 0; i < this.count; i++) v[i] = this.value[i];
    this.value = v;
  }

  lastKind(): TokenKind | undefined {
    return this.count === 0 ? undefined : this.kind(this.count - 1);
  }

  toTokens(): Token[] {
    const out: Token[] = [];
    for (let i = 0; i < this.count; i++) {
      const t: Token = { kind: this.kind(i), start: this.start[i]!, end: this.end[i]! };
      if (this.value[i] !== undefined) t.value = this.value[i];
      out.push(t);
    }
    return out;
  }
}

const KINDS: readonly TokenKind[] = [
  "eof",
  "newline",
  "ident",
  "int",
  "float",
  "duration",
  "rate",
  "str-start",
  "str-text",
  "interp-open",
  "interp-close",
  "str-end",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  ".",
  "=",
  "<",
  ">",
];
const KIND_CODE = Object.fromEntries(KINDS.map((k, i) => [k, i])) as Record<TokenKind, number>;

/** Human name of a token kind, for "expected X, found Y". */
export function describeToken(kind: TokenKind, text: string): string {
  switch (kind) {
    case "eof":
      return "the end of the file";
    case "newline":
      return "the end of the line";
    case "ident":
      return `"${text}"`;
    case "int":
    case "float":
      return `the number ${text}`;
    case "duration":
      return `the duration ${text}`;
    case "rate":
      return `the rate ${text}`;
    case "str-start":
      return "a string";
    case "str-text":
    case "str-end":
      return "the inside of a string";
    case "interp-open":
      return '"${"';
    case "interp-close":
      return '"}"';
    default:
      return `"${kind}"`;
  }
}
