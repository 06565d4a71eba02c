import { resolve } from "node:path";
import type { CacheRequest } from "../engine/cache-port.js";
import { displayPath, evalSync } from "../graph/eval.js";
import type { StepId, ValueExpr } from "../graph/ir.js";
import { isFileValue } from "../graph/ir.js";
import { canonicalJson } from "../graph/canonical.js";
import { pathPartField, pathPartOf } from "../graph/path-part.js";
import { globFiles } from "../graph/glob-files.js";

/**
 * A step's inputs as they enter its fingerprint: the canonical JSON of each input as the engine
 * evaluated it, with file digests and interpolated parts kept (see {@link inputsText}). Written in a
 * synchronous pass that throws {@link NeedsIO} when a digest or glob is not at hand; the caller then
 * reads those ({@link prefetch}) and writes the very same text again.
 */

/** A request as an engine may also send it: with access to the other steps' values (optional). */
export type RichCacheRequest = CacheRequest & { valueOfStep?: (id: StepId) => unknown };

/** What the inputs' text needs from its surroundings (part of fingerprint.ts's FingerprintEnv). */
export interface InputsEnv {
  root: string;
  digest(absPath: string): Promise<string>;
  /** The digest when it is known without reading the file (a stat-cache hit); else undefined. */
  digestSync(absPath: string): string | undefined;
  /** `<root>/` when a clean relative path can be made absolute by concatenation (POSIX). */
  rootPrefix?: string;
  /** The value of another step of this run, when known. */
  valueOf(id: StepId): { value: unknown } | undefined;
}

/** The step cannot be cached; the message says why. */
export class Uncacheable extends Error {}

/** Thrown by the synchronous evaluation when something needs I/O: the caller retries asynchronously. */
export class NeedsIO extends Error {}

/** True when evaluating the expression loses file digests (an interpolation with non-literal parts). */
export function lossy(e: ValueExpr): boolean {
  switch (e.kind) {
    case "concat":
      // A literal file (a map's item put into its command) loses its digest as much as a reference does.
      return e.parts.some((p) => (p.kind === "lit" ? isObject(p.value) : p.kind !== "output"));
    case "list":
      return e.items.some(lossy);
    case "record":
      return Object.values(e.fields).some(lossy);
    default:
      return false;
  }
}

function isObject(v: unknown): boolean {
  return typeof v === "object" && v !== null;
}

/** State of one fingerprint computation: digests and glob results read by the async pass. */
export interface TextContext {
  request: RichCacheRequest;
  env: InputsEnv;
  files?: Map<string, string>;
  globs?: Map<string, { abs: string; shown: string }[]>;
}

/**
 * Canonical texts of literal lists and records, which never change (keyed by the expression object). Only
 * those: a scalar's text costs less to write again than its entry here holds for the whole run (W2's
 * 10,000 steps kept 4.5 MiB of entries for template text and output paths).
 */
const literalTexts = new WeakMap<ValueExpr, string>();

/** `[<input 0>,<input 1>,…]`: each input's canonical JSON; interpolations keep their parts. */
export function inputsText(ctx: TextContext): string {
  const { step, args } = ctx.request;
  let s = "[";
  for (let k = 0; k < args.length; k++) {
    if (k > 0) s += ",";
    const e = step.inputs[k];
    s += e !== undefined && lossy(e) ? exprText(e, ctx) : canonicalJson(args[k]);
  }
  return s + "]";
}

/**
 * The canonical JSON (see canonical.ts) of an input as the engine evaluates it, except that an
 * interpolation is kept as `{"$concat":{"parts":[…],"quote":…}}` and files as `{"$$file":…,"digest":…}`.
 * Written directly, without building the value first: this runs for every step of every run.
 * Throws NeedsIO when a file digest is not at hand (then {@link prefetch} and call again).
 */
function exprText(e: ValueExpr, ctx: TextContext): string {
  switch (e.kind) {
    case "lit": {
      // Template text of a command line (`raw`) is not quoted, other literals are: not the same input.
      if (e.raw === true) return `{"$raw":${canonicalJson(e.value)}}`;
      if (typeof e.value !== "object" || e.value === null) return canonicalJson(e.value);
      let t = literalTexts.get(e);
      if (t === undefined) {
        t = canonicalJson(e.value);
        literalTexts.set(e, t);
      }
      return t;
    }
    case "ref": {
      const v = refValue(e, ctx);
      return isPlainFileValue(v) ? fileText(v.$file, v.digest) : canonicalJson(v);
    }
    case "list": {
      let s = "[";
      for (let i = 0; i < e.items.length; i++) s += (i > 0 ? "," : "") + exprText(e.items[i]!, ctx);
      return s + "]";
    }
    case "record": {
      const keys = Object.keys(e.fields).sort();
      let s = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        s += `${i > 0 ? "," : ""}${JSON.stringify(k.charCodeAt(0) === 36 ? "$" + k : k)}:${exprText(e.fields[k]!, ctx)}`;
      }
      return s + "}";
    }
    case "concat": {
      let s = `{"$concat":{"parts":[`;
      for (let i = 0; i < e.parts.length; i++) s += (i > 0 ? "," : "") + exprText(e.parts[i]!, ctx);
      return `${s}],"quote":${e.quote === undefined ? "null" : JSON.stringify(e.quote)}}}`;
    }
    case "file": {
      const { abs, shown } = filePath(pathValue(e.path, ctx), ctx.env);
      let digest = ctx.files?.get(abs);
      if (digest === undefined) {
        try {
          digest = ctx.env.digestSync(abs);
        } catch {
          digest = undefined;
        }
      }
      if (digest === undefined) throw new NeedsIO();
      return fileText(shown, digest);
    }
    case "glob": {
      const found = ctx.globs?.get(e.pattern);
      if (!found) throw new NeedsIO();
      let s = "[";
      for (let i = 0; i < found.length; i++) {
        const f = found[i]!;
        const digest = ctx.files?.get(f.abs);
        if (digest === undefined) throw new NeedsIO();
        s += (i > 0 ? "," : "") + fileText(f.shown, digest);
      }
      return s + "]";
    }
    case "output":
      return JSON.stringify(e.path);
    case "pathPart":
      return JSON.stringify(partOf(e, ctx));
    case "lines":
      // Its text is the file's lines: the digest of the file says the same, and is at hand.
      return `{"$lines":${exprText(e.of, ctx)},"json":${e.json === true}}`;
    case "item":
    case "itemOutput":
      throw new Uncacheable("internal: an item placeholder outside a map's items");
    case "input":
      throw new Uncacheable(`internal: input ${e.name} was not bound before the run`);
  }
}

/** A part of a path, as the engine computed it. */
function partOf(e: Extract<ValueExpr, { kind: "pathPart" }>, ctx: TextContext): string {
  try {
    const of = e.of.kind === "file" ? e.of.path : e.of;
    return pathPartOf(pathValue(of, ctx), e.part);
  } catch (err) {
    if (err instanceof Uncacheable) throw err;
    throw new Uncacheable(`.${e.part} of it cannot be evaluated: ${(err as Error).message}`);
  }
}

/** Exactly `{ $file, digest }` (so its canonical text is {@link fileText}). */
function isPlainFileValue(v: unknown): v is { $file: string; digest: string } {
  if (typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const f = v as { $file?: unknown; digest?: unknown };
  if (typeof f.$file !== "string" || typeof f.digest !== "string") return false;
  let n = 0;
  for (const _ in v) n++;
  return n === 2;
}

/** canonicalJson({ $file, digest }). */
function fileText(shown: string, digest: string): string {
  return `{"$$file":${JSON.stringify(shown)},"digest":${JSON.stringify(digest)}}`;
}

/** Reads the file digests and glob results an expression needs (the async pass). */
export async function prefetch(e: ValueExpr, ctx: TextContext): Promise<void> {
  switch (e.kind) {
    case "list":
      for (const x of e.items) await prefetch(x, ctx);
      return;
    case "record":
      for (const x of Object.values(e.fields)) await prefetch(x, ctx);
      return;
    case "concat":
      for (const x of e.parts) await prefetch(x, ctx);
      return;
    case "pathPart":
    case "lines":
      return prefetch(e.of, ctx);
    case "file": {
      const { abs } = filePath(pathValue(e.path, ctx), ctx.env);
      ctx.files!.set(abs, await ctx.env.digest(abs));
      return;
    }
    case "glob": {
      const env = ctx.env;
      const found = await globFiles(e.pattern, env.root);
      const list = found.map((f) => {
        const abs = resolve(env.root, f);
        return { abs, shown: displayPath(abs, env.root) };
      });
      for (const f of list) ctx.files!.set(f.abs, await env.digest(f.abs));
      ctx.globs!.set(e.pattern, list);
      return;
    }
    default:
      return;
  }
}

/** The path a `file(...)` expression names, evaluated like the engine does. */
function pathValue(e: ValueExpr, ctx: TextContext): unknown {
  if (e.kind === "lit") return e.value;
  if (e.kind === "ref") return refValue(e, ctx);
  try {
    return evalSync(e, {
      root: ctx.env.root,
      valueOf: (id) => refValue({ kind: "ref", step: id }, ctx),
      digest: () => Promise.reject(new Error("no I/O here")),
    });
  } catch (err) {
    if (err instanceof Uncacheable) throw err;
    throw new Uncacheable(`a file path of it cannot be evaluated: ${(err as Error).message}`);
  }
}

/** The value of a referenced step (and field), as the engine saw it. */
function refValue(e: Extract<ValueExpr, { kind: "ref" }>, ctx: TextContext): unknown {
  const { request, env } = ctx;
  let v: unknown;
  if (typeof request.valueOfStep === "function") {
    v = request.valueOfStep(e.step);
  } else {
    const known = env.valueOf(e.step);
    if (!known) {
      throw new Uncacheable(
        `its command interpolates the value of ${e.step}, which the cache did not see (is ${e.step} cache: false?)`,
      );
    }
    v = known.value;
  }
  if (e.path) {
    for (const key of e.path) {
      // As the engine reads it (eval.ts): a path part of a file or string, else a field.
      const part = pathPartField(v, key);
      if (part !== undefined) {
        v = part;
        continue;
      }
      if (v === null || typeof v !== "object") throw new Uncacheable(`${e.step} has no field ${key}`);
      v = (v as Record<string | number, unknown>)[key];
    }
  }
  return v;
}

function filePath(p: unknown, env: InputsEnv): { abs: string; shown: string } {
  const rel = isFileValue(p) ? p.$file : String(p);
  if (env.rootPrefix !== undefined && !UNCLEAN.test(rel)) return { abs: env.rootPrefix + rel, shown: rel };
  const abs = resolve(env.root, rel);
  return { abs, shown: displayPath(abs, env.root) };
}

/** Paths that `resolve` would change: absolute, empty, `.`/`..` segments, doubled or trailing slashes, `\\`. */
const UNCLEAN = /^$|^\/|\/\/|\/$|\\|(^|\/)\.\.?(\/|$)/;
