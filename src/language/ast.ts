import type { Rate } from "../graph/ir.js";

/** 0-based offsets into the flow file, `end` exclusive. */
export interface Span {
  start: number;
  end: number;
}

export type Expr =
  | ({ kind: "ident"; name: string } & Span)
  | ({ kind: "call"; callee: string; calleeSpan: Span; args: Expr[] } & Span)
  | ({ kind: "int"; value: number } & Span)
  | ({ kind: "float"; value: number } & Span)
  | ({ kind: "bool"; value: boolean } & Span)
  /** Milliseconds. */
  | ({ kind: "duration"; ms: number } & Span)
  /** Undefined when the rate was malformed (already reported). */
  | ({ kind: "rate"; rate: Rate | undefined } & Span)
  /** A string: literal text and interpolated expressions, in order. */
  | ({ kind: "string"; parts: (string | Expr)[] } & Span)
  | ({ kind: "list"; items: Expr[] } & Span)
  | ({ kind: "record"; fields: RecordField[] } & Span)
  | ({ kind: "field"; target: Expr; name: string; nameSpan: Span } & Span)
  | ({ kind: "index"; target: Expr; index: Expr } & Span)
  /** `for name in list: Call(...)`: the call once per item of the list, the item named `name`. */
  | ({ kind: "for"; name: string; nameSpan: Span; list: Expr; body: Expr } & Span)
  /** Stands in for an expression that did not parse (the error is already reported). */
  | ({ kind: "error" } & Span);

export interface RecordField {
  name: string;
  nameSpan: Span;
  value: Expr;
}

export type TypeNode =
  | ({ kind: "named"; name: string; nameSpan: Span; args: TypeNode[] } & Span)
  | ({ kind: "record"; fields: { name: string; nameSpan: Span; type: TypeNode }[] } & Span)
  | ({ kind: "error" } & Span);

export interface OptionNode {
  name: string;
  nameSpan: Span;
  value: Expr;
}

export type Statement =
  /** `use "./modules.ts"` */
  | ({ kind: "use"; path: string; pathSpan: Span } & Span)
  /** `in name: Type [= default]` */
  | ({ kind: "input"; name: string; nameSpan: Span; type: TypeNode; default?: Expr } & Span)
  /** `pool name = 4` */
  | ({ kind: "pool"; name: string; nameSpan: Span; size: Expr } & Span)
  /** `name = expr [with option: value, ...]` */
  | ({
      kind: "assign";
      name: string;
      nameSpan: Span;
      value: Expr;
      options: OptionNode[];
      withSpan?: Span;
    } & Span)
  /** `out a, b` */
  | ({ kind: "out"; names: { name: string; span: Span }[] } & Span);

export interface FlowAst {
  file: string;
  statements: Statement[];
}
