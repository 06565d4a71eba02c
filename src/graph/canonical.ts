/**
 * Canonical text of a value for cache keys: JSON with object keys sorted, one spelling per value.
 *
 * It is injective on the values a step can receive, so two different inputs never share a key:
 * - object keys that start with `$` are written with one more `$` (`$file` → `$$file`), which frees the
 *   single-`$` keys for tags that JSON cannot express: `{"$u":1}` is `undefined`, `{"$n":"-0"}` is -0,
 *   `{"$bigint":"12"}`, `{"$date":"…"}`;
 * - anything else (functions, symbols, NaN, Infinity, Maps, class instances, cycles) throws
 *   {@link NotCanonical}: such a value cannot be fingerprinted and the step is not cached.
 *
 * The output is valid JSON, so it can be stored and parsed back for `explain`.
 */
export class NotCanonical extends Error {
  override name = "NotCanonical";
}

/**
 * A structure the cache builds itself (for example the parts of a command line), written as
 * `{"$<tag>":<value>}`: a single-`$` key, so it can never be confused with user data.
 */
export class Tagged {
  constructor(
    readonly tag: string,
    readonly value: unknown,
  ) {}
}

export function canonicalJson(value: unknown): string {
  try {
    return write(value, 0);
  } catch (err) {
    if (err instanceof NotCanonical)
      throw new NotCanonical(`${whereNotCanonical(value, "value", 0) ?? "value"} ${err.message}`);
    throw err;
  }
}

/** The hot path: no path bookkeeping (the error path walks again to say where). */
function write(v: unknown, depth: number): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      if (!Number.isFinite(v)) throw new NotCanonical(`is ${v}`);
      return Object.is(v, -0) ? `{"$n":"-0"}` : String(v);
    case "undefined":
      return `{"$u":1}`;
    case "bigint":
      return `{"$bigint":"${v}"}`;
    case "object": {
      if (v === null) return "null";
      if (depth > 200) throw new NotCanonical("is nested too deeply (a cycle?)");
      if (Array.isArray(v)) {
        if (v.length === 0) return "[]";
        let s = "[" + write(v[0], depth + 1);
        for (let i = 1; i < v.length; i++) s += "," + write(v[i], depth + 1);
        return s + "]";
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        if (v instanceof Tagged) return `{${JSON.stringify("$" + v.tag)}:${write(v.value, depth + 1)}}`;
        if (v instanceof Date) {
          if (!Number.isFinite(v.getTime())) throw new NotCanonical("is an invalid Date");
          return `{"$date":"${v.toISOString()}"}`;
        }
        const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? "a class";
        throw new NotCanonical(`is an instance of ${name}`);
      }
      const keys = Object.keys(v);
      if (keys.length > 1) keys.sort();
      let s = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (i > 0) s += ",";
        s += k.charCodeAt(0) === 36 /* $ */ ? JSON.stringify("$" + k) : JSON.stringify(k);
        s += ":" + write((v as Record<string, unknown>)[k], depth + 1);
      }
      return s + "}";
    }
    default:
      throw new NotCanonical(`is a ${typeof v}`);
  }
}

/** The path of the first part of `v` that cannot be written (for the error message). */
function whereNotCanonical(v: unknown, path: string, depth: number): string | undefined {
  try {
    write(v, depth);
    return undefined;
  } catch {
    // below
  }
  if (typeof v === "object" && v !== null && !(v instanceof Tagged) && depth <= 200) {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const w = whereNotCanonical(v[i], `${path}[${i}]`, depth + 1);
        if (w) return w;
      }
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const k of Object.keys(v)) {
        const w = whereNotCanonical((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
        if (w) return w;
      }
    }
  }
  return path;
}

/** Reverses the `$` escaping of {@link canonicalJson} for one object key (for display). */
export function unescapeKey(k: string): string {
  return k.startsWith("$$") ? k.slice(1) : k;
}
