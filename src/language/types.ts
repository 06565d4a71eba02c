import type { TypeNode } from "./ast.js";
import type { DiagnosticSink } from "./diagnostics.js";
import { suggest } from "../graph/topology.js";
import { isFileValue } from "../graph/ir.js";

/** The static types of the flow language. `Any` is compatible with everything, in both directions. */
export type Type =
  | { kind: "String" }
  | { kind: "Int" }
  | { kind: "Float" }
  | { kind: "Bool" }
  | { kind: "File" }
  | { kind: "Any" }
  | { kind: "List"; item: Type }
  | { kind: "Optional"; inner: Type }
  | { kind: "Record"; fields: Readonly<Record<string, Type>> };

export const T = {
  String: { kind: "String" } as Type,
  Int: { kind: "Int" } as Type,
  Float: { kind: "Float" } as Type,
  Bool: { kind: "Bool" } as Type,
  File: { kind: "File" } as Type,
  Any: { kind: "Any" } as Type,
  list: (item: Type): Type => ({ kind: "List", item }),
  optional: (inner: Type): Type =>
    inner.kind === "Optional" || inner.kind === "Any" ? inner : { kind: "Optional", inner },
  /** Fields are kept in a prototype-less object, so that `constructor` or `__proto__` are just names. */
  record: (fields: Record<string, Type>): Type => {
    const own: Record<string, Type> = Object.create(null);
    for (const k of Object.keys(fields)) own[k] = fields[k]!;
    return { kind: "Record", fields: own };
  },
};

const PRIMITIVES = ["String", "Int", "Float", "Bool", "File", "Any"] as const;
const TYPE_NAMES = [...PRIMITIVES, "List", "Optional"];

/** `List<{ id: String, tags: List<String> }>` */
export function showType(t: Type, depth = 0): string {
  if (depth > 20) return "...";
  switch (t.kind) {
    case "List":
      return `List<${showType(t.item, depth + 1)}>`;
    case "Optional":
      return `Optional<${showType(t.inner, depth + 1)}>`;
    case "Record": {
      const keys = Object.keys(t.fields);
      if (keys.length === 0) return "{}";
      return `{ ${keys.map((k) => `${showKey(k)}: ${showType(t.fields[k]!, depth + 1)}`).join(", ")} }`;
    }
    default:
      return t.kind;
  }
}

function showKey(k: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k);
}

/** A value of type `from` can be passed where `to` is expected. */
export function assignable(from: Type, to: Type, depth = 0): boolean {
  if (depth > 50) return true;
  if (from.kind === "Any" || to.kind === "Any") return true;
  if (to.kind === "Optional") {
    return assignable(from.kind === "Optional" ? from.inner : from, to.inner, depth + 1);
  }
  switch (from.kind) {
    case "Optional":
      return false;
    case "Int":
      return to.kind === "Int" || to.kind === "Float";
    case "List":
      return to.kind === "List" && assignable(from.item, to.item, depth + 1);
    case "File":
      // A file is passed as { $file, digest }.
      if (to.kind === "Record") {
        return Object.entries(to.fields).every(([k, ft]) =>
          k === "$file" || k === "digest" ? assignable(T.String, ft, depth + 1) : ft.kind === "Optional",
        );
      }
      return to.kind === "File";
    case "Record":
      if (to.kind === "File") {
        const f = from.fields;
        return f.$file !== undefined && assignable(f.$file, T.String) && f.digest !== undefined;
      }
      if (to.kind !== "Record") return false;
      for (const [k, ft] of Object.entries(to.fields)) {
        const have = from.fields[k];
        if (have === undefined) {
          if (ft.kind !== "Optional" && ft.kind !== "Any") return false;
        } else if (!assignable(have, ft, depth + 1)) return false;
      }
      return true;
    default:
      return from.kind === to.kind;
  }
}

/** Why `from` does not fit `to`, for the message after "expected X, got Y"; undefined when no detail helps. */
export function whyNotAssignable(from: Type, to: Type): string | undefined {
  if (from.kind === "Optional" && to.kind !== "Optional") return "the value may be missing (it is Optional)";
  if (from.kind === "Record" && to.kind === "Record") {
    for (const [k, ft] of Object.entries(to.fields)) {
      const have = from.fields[k];
      if (have === undefined) {
        if (ft.kind !== "Optional" && ft.kind !== "Any") return `field ${k} is missing`;
      } else if (!assignable(have, ft)) return `field ${k} is ${showType(have)}, not ${showType(ft)}`;
    }
  }
  if (from.kind === "File" && to.kind === "String") {
    return 'a File is passed as { $file, digest }; pass its path as a string with "${...}"';
  }
  if (from.kind === "Float" && to.kind === "Int") return "a Float is not a whole number";
  return undefined;
}

/** The common type of list items: the same type, Int widened to Float, else Any. */
export function join(a: Type, b: Type): Type {
  if (a === b || sameType(a, b)) return a;
  if ((a.kind === "Int" && b.kind === "Float") || (a.kind === "Float" && b.kind === "Int")) return T.Float;
  if (a.kind === "Optional" && assignable(b, a)) return a;
  if (b.kind === "Optional" && assignable(a, b)) return b;
  if (a.kind === "List" && b.kind === "List") return T.list(join(a.item, b.item));
  return T.Any;
}

export function sameType(a: Type, b: Type, depth = 0): boolean {
  if (depth > 50) return true;
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "List":
      return sameType(a.item, (b as typeof a).item, depth + 1);
    case "Optional":
      return sameType(a.inner, (b as typeof a).inner, depth + 1);
    case "Record": {
      const bf = (b as typeof a).fields;
      const ka = Object.keys(a.fields);
      if (ka.length !== Object.keys(bf).length) return false;
      return ka.every((k) => bf[k] !== undefined && sameType(a.fields[k]!, bf[k], depth + 1));
    }
    default:
      return true;
  }
}

/** Resolves a written type, reporting unknown names (with a suggestion) and wrong argument counts. */
export function typeFromNode(node: TypeNode, sink: DiagnosticSink): Type {
  switch (node.kind) {
    case "error":
      return T.Any;
    case "record": {
      const fields: Record<string, Type> = Object.create(null);
      for (const f of node.fields) {
        if (f.name in fields) {
          sink.error(
            "duplicate-field",
            `field ${f.name} is declared twice`,
            f.nameSpan.start,
            f.nameSpan.end,
          );
        }
        fields[f.name] = typeFromNode(f.type, sink);
      }
      return T.record(fields);
    }
    case "named": {
      const { name, args } = node;
      const want = name === "List" || name === "Optional" ? 1 : 0;
      if (!TYPE_NAMES.includes(name)) {
        sink.error(
          "unknown-type",
          `unknown type ${name}`,
          node.nameSpan.start,
          node.nameSpan.end,
          suggest(name, TYPE_NAMES) ??
            "types: String, Int, Float, Bool, File, List<T>, Optional<T>, Any, { a: T }",
        );
        return T.Any;
      }
      if (args.length !== want) {
        sink.error(
          "type-arguments",
          want === 0
            ? `${name} takes no type argument`
            : `${name} needs exactly one type argument, as in ${name}<String>`,
          node.start,
          node.end,
        );
        if (want === 0) return (T as unknown as Record<string, Type>)[name]!;
        if (args.length === 0) return name === "List" ? T.list(T.Any) : T.optional(T.Any);
      }
      if (name === "List") return T.list(typeFromNode(args[0]!, sink));
      if (name === "Optional") return T.optional(typeFromNode(args[0]!, sink));
      return (T as unknown as Record<string, Type>)[name]!;
    }
  }
}

/**
 * The flow type of a JSON Schema (as produced by Standard Schema's `~standard.jsonSchema`). Anything the
 * language has no type for (unions, tuples, maps, references) becomes Any: checked at run time only.
 */
export function typeFromJsonSchema(schema: unknown, depth = 0): Type {
  if (depth > 30 || schema === null || typeof schema !== "object") return T.Any;
  const s = schema as Record<string, unknown>;
  if (s.$ref !== undefined) return T.Any;
  for (const key of ["anyOf", "oneOf"] as const) {
    const alts = s[key];
    if (Array.isArray(alts)) {
      const nonNull = alts.filter(
        (a) => !(a && typeof a === "object" && (a as { type?: unknown }).type === "null"),
      );
      const types = nonNull.map((a) => typeFromJsonSchema(a, depth + 1));
      let t = types[0] ?? T.Any;
      for (const u of types.slice(1)) t = sameType(t, u) ? t : T.Any;
      return nonNull.length < alts.length ? T.optional(t) : t;
    }
  }
  if (Array.isArray(s.allOf) && s.allOf.length === 1) return typeFromJsonSchema(s.allOf[0], depth + 1);
  let type = s.type;
  let nullable = false;
  if (Array.isArray(type)) {
    const rest = type.filter((x) => x !== "null");
    nullable = rest.length < type.length;
    type = rest.length === 1 ? rest[0] : undefined;
  }
  if (type === undefined && s.const !== undefined) type = jsonTypeOf(s.const);
  if (type === undefined && Array.isArray(s.enum) && s.enum.length > 0) {
    const kinds = new Set(s.enum.map(jsonTypeOf));
    type = kinds.size === 1 ? [...kinds][0] : undefined;
  }
  let t: Type;
  switch (type) {
    case "string":
      t = T.String;
      break;
    case "integer":
      t = T.Int;
      break;
    case "number":
      t = T.Float;
      break;
    case "boolean":
      t = T.Bool;
      break;
    case "array":
      t =
        Array.isArray(s.prefixItems) || s.items === undefined || typeof s.items === "boolean"
          ? T.list(T.Any)
          : T.list(typeFromJsonSchema(s.items, depth + 1));
      break;
    case "object": {
      const props = s.properties;
      if (!props || typeof props !== "object") {
        t = T.Any;
        break;
      }
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      const fields: Record<string, Type> = Object.create(null);
      for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
        const ft = typeFromJsonSchema(v, depth + 1);
        fields[k] = required.has(k) ? ft : T.optional(ft);
      }
      const keys = Object.keys(fields);
      t =
        keys.length === 2 && fields.$file?.kind === "String" && fields.digest?.kind === "String"
          ? T.File
          : T.record(fields);
      break;
    }
    default:
      t = T.Any;
  }
  return nullable ? T.optional(t) : t;
}

function jsonTypeOf(v: unknown): string | undefined {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return undefined;
}

/** The type of a plain value (an input's default or a literal). */
export function typeOfValue(v: unknown, depth = 0): Type {
  if (depth > 30) return T.Any;
  if (typeof v === "string") return T.String;
  if (typeof v === "boolean") return T.Bool;
  if (typeof v === "number") return Number.isInteger(v) ? T.Int : T.Float;
  if (isFileValue(v)) return T.File;
  if (Array.isArray(v)) {
    let item: Type | undefined;
    for (const x of v) {
      const t = typeOfValue(x, depth + 1);
      item = item === undefined ? t : join(item, t);
    }
    return T.list(item ?? T.Any);
  }
  if (v && typeof v === "object") {
    const fields: Record<string, Type> = Object.create(null);
    for (const [k, x] of Object.entries(v)) fields[k] = typeOfValue(x, depth + 1);
    return T.record(fields);
  }
  return T.Any;
}

/**
 * Checks a run-time value (an input given as JSON) against a type; returns what is wrong, naming the
 * path, or undefined. File positions must hold strings (paths).
 */
export function checkValue(v: unknown, t: Type, path = "", depth = 0): string | undefined {
  if (depth > 50) return undefined;
  const where = path === "" ? "" : ` at ${path}`;
  switch (t.kind) {
    case "Any":
      return undefined;
    case "Optional":
      return v === null || v === undefined ? undefined : checkValue(v, t.inner, path, depth + 1);
    case "String":
    case "File":
      return typeof v === "string"
        ? undefined
        : `expected ${t.kind === "File" ? "a file path" : "a string"}${where}, got ${JSON.stringify(v)}`;
    case "Int":
      return Number.isInteger(v) ? undefined : `expected a whole number${where}, got ${JSON.stringify(v)}`;
    case "Float":
      return typeof v === "number" && Number.isFinite(v)
        ? undefined
        : `expected a number${where}, got ${JSON.stringify(v)}`;
    case "Bool":
      return typeof v === "boolean" ? undefined : `expected true or false${where}, got ${JSON.stringify(v)}`;
    case "List":
      if (!Array.isArray(v)) return `expected a list${where}, got ${JSON.stringify(v)}`;
      for (let i = 0; i < v.length; i++) {
        const why = checkValue(v[i], t.item, `${path}[${i}]`, depth + 1);
        if (why) return why;
      }
      return undefined;
    case "Record": {
      if (!v || typeof v !== "object" || Array.isArray(v))
        return `expected a record${where}, got ${JSON.stringify(v)}`;
      for (const [k, ft] of Object.entries(t.fields)) {
        const why = checkValue(
          (v as Record<string, unknown>)[k],
          ft,
          path === "" ? k : `${path}.${k}`,
          depth + 1,
        );
        if (why) return why;
      }
      return undefined;
    }
  }
}

/** Field `name` of a value of type `t`: its type, Any when unknown, or undefined when it has no such field. */
export function fieldType(t: Type, name: string): Type | undefined {
  switch (t.kind) {
    case "Any":
      return T.Any;
    case "Record":
      return t.fields[name];
    case "Optional": {
      const f = fieldType(t.inner, name);
      return f === undefined ? undefined : T.optional(f);
    }
    case "File":
      return name === "$file" || name === "digest" ? T.String : undefined;
    default:
      return undefined;
  }
}
