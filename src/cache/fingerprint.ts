import { resolve } from "node:path";
import type { CacheRequest } from "../engine/cache-port.js";
import { displayPath, evalSync, toArgv } from "../graph/eval.js";
import type { StepId, ValueExpr } from "../graph/ir.js";
import { isFileValue } from "../graph/ir.js";
import { NOT_IN_KEY_OPTIONS } from "../graph/options.js";
import { canonicalJson, NotCanonical } from "../graph/canonical.js";
import { digestBytes } from "../graph/digest.js";
import type { CodeIdentity, ModuleGraph } from "../graph/module-code.js";

/** Bumped when the meaning of a key changes, so old entries are simply never matched again. */
export const FINGERPRINT_FORMAT = 1;

/**
 * Options that only affect when or how a step is scheduled, never its result, are left out of the key
 * (the option table says which; `version` and `env` are in the key as `code` and `env`). Every other
 * option is in it, so a StepOptions field that no table entry lands in counts.
 */
const SCHEDULING_ONLY = NOT_IN_KEY_OPTIONS;

/**
 * What the cache key of a step is the SHA-256 of (as canonical JSON; see docs/caching.md):
 */
export interface Components {
  format: number;
  /** `process.platform-process.arch`: a cache shared between machines keeps their results apart. */
  platform: string;
  executor: "process" | "function";
  /** The declared version, or the module's code identity (function steps); absent for commands. */
  code?:
    | { version: string }
    | { module: string; export: string; digest: string; files: Record<string, string>; unresolved: string[] };
  /** Process steps: the argv (or the /bin/sh line), the action's own env, cwd. */
  command?: { argv: string[]; shell: boolean; env: Record<string, string> | null; cwd: string | null };
  /**
   * The evaluated inputs, files as `{ $file, digest }`. Where the engine turned an input into text
   * (string interpolation), the parts are kept as `{"$concat": {quote, parts}}` (template text as
   * `{"$raw": text}`), so a file named in a command line still counts by its content.
   */
  inputs: unknown[];
  /** Declared env vars (`env: [...]`) → value now (null when unset). */
  env: Record<string, string | null>;
  /** Options that may change the result (everything but scheduling). */
  options: Record<string, unknown>;
  /** Declared output paths. */
  outputs: string[];
}

export type Fingerprint = { key: string; text: string } | { key: undefined; reason: string };

/** What a fingerprint needs from its surroundings. */
export interface FingerprintEnv {
  root: string;
  env: NodeJS.ProcessEnv;
  digest(absPath: string): Promise<string>;
  /** The digest when it is known without reading the file (a stat-cache hit); else undefined. */
  digestSync(absPath: string): string | undefined;
  modules: ModuleGraph;
  /** Memo of the parts of a step's fingerprint that are fixed for the run. */
  statics?: WeakMap<object, StaticParts>;
  /** `<root>/` when a clean relative path can be made absolute by concatenation (POSIX). */
  rootPrefix?: string;
  /** The value of another step of this run, when known. */
  valueOf(id: StepId): { value: unknown } | undefined;
}

/** A request as an engine may also send it: with access to the other steps' values (optional). */
export type RichCacheRequest = CacheRequest & { valueOfStep?: (id: StepId) => unknown };

class Uncacheable extends Error {}

const PLATFORM = `${process.platform}-${process.arch}`;

/** Thrown by the synchronous evaluation when something needs I/O: the caller retries asynchronously. */
class NeedsIO extends Error {}

/**
 * The key of a step, or why it has none. Fast path first: most steps need no I/O (their module is
 * already scanned and their files are in the stat cache), so no promise is awaited for them.
 */
export async function fingerprint(request: RichCacheRequest, env: FingerprintEnv): Promise<Fingerprint> {
  return fingerprintSync(request, env) ?? compute(request, env, false);
}

/** The fingerprint without any I/O, or undefined when I/O is needed (then use {@link fingerprint}). */
export function fingerprintSync(request: RichCacheRequest, env: FingerprintEnv): Fingerprint | undefined {
  try {
    return compute(request, env, true) as Fingerprint;
  } catch (err) {
    if (err instanceof NeedsIO) return undefined;
    throw err;
  }
}

function compute(request: RichCacheRequest, env: FingerprintEnv, sync: true): Fingerprint;
function compute(request: RichCacheRequest, env: FingerprintEnv, sync: false): Promise<Fingerprint>;
function compute(
  request: RichCacheRequest,
  env: FingerprintEnv,
  sync: boolean,
): Fingerprint | Promise<Fingerprint> {
  const { step } = request;
  const action = step.action;
  if (action.kind === "map")
    return { key: undefined, reason: "a map step is expanded, not cached (its items are)" };
  const version = step.options.version;
  let code: Components["code"] | Promise<Components["code"]>;
  if (version !== undefined) {
    code = { version: String(version) };
  } else if (action.kind === "function") {
    if (!action.ref) {
      return {
        key: undefined,
        reason:
          "it is a function without a module file or a declared version, so its code cannot be fingerprinted (declare `version`, or load it from a module)",
      };
    }
    const ref = action.ref;
    const known = env.modules.identitySync(ref.file);
    if (known) code = codeOf(known, ref.exportName);
    else if (sync) throw new NeedsIO();
    else {
      code = env.modules.identity(ref.file).then(
        (id) => codeOf(id, ref.exportName),
        (err: Error) => {
          throw new Uncacheable(`its module ${ref.file} cannot be read: ${err.message}`);
        },
      );
    }
  }

  const ctx: TextContext = { request, env };
  const finish = (c: Components["code"]): Fingerprint => {
    try {
      return assemble(request, env, c, inputsText(ctx));
    } catch (err) {
      if (err instanceof Uncacheable) return { key: undefined, reason: err.message };
      if (err instanceof NotCanonical)
        return { key: undefined, reason: `its inputs cannot be fingerprinted: ${err.message}` };
      throw err;
    }
  };
  if (sync) return finish(code as Components["code"]);
  return (async () => {
    try {
      const c = await code;
      // Read what the synchronous pass could not (files not in the stat cache, globs), then write the
      // very same text from it.
      ctx.files = new Map();
      ctx.globs = new Map();
      for (let k = 0; k < step.inputs.length; k++) {
        const e = step.inputs[k]!;
        if (lossy(e)) await prefetch(e, ctx);
      }
      return finish(c);
    } catch (err) {
      if (err instanceof Uncacheable) return { key: undefined, reason: err.message };
      if (err instanceof NotCanonical)
        return { key: undefined, reason: `its inputs cannot be fingerprinted: ${err.message}` };
      throw err;
    }
  })();
}

function codeOf(id: CodeIdentity, exportName: string): Components["code"] {
  return {
    module: id.module,
    export: exportName,
    digest: id.digest,
    files: id.files,
    unresolved: id.unresolved,
  };
}

/** The parts of a step's fingerprint text that do not change within a run (memoized per step). */
interface StaticParts {
  code: string;
  /** `"cwd":…,"env":…,"shell":…` of the command, or undefined for function steps. */
  commandRest: string | undefined;
  env: string;
  options: string;
}

function staticParts(request: RichCacheRequest, env: FingerprintEnv, code: Components["code"]): StaticParts {
  const step = request.step;
  const cached = env.statics?.get(step);
  if (cached) return cached;
  const action = step.action;
  let envText = "{}";
  const names = step.options.env;
  if (names && names.length > 0) {
    const declared: Record<string, string | null> = {};
    for (const name of [...new Set(names)].sort()) declared[name] = env.env[name] ?? null;
    envText = canonicalJson(declared);
  }
  let options: Record<string, unknown> | undefined;
  for (const k in step.options) {
    const v = (step.options as Record<string, unknown>)[k];
    if (v !== undefined && !SCHEDULING_ONLY.has(k)) (options ??= {})[k] = v;
  }
  let commandRest: string | undefined;
  if (action.kind === "process") {
    commandRest =
      action.cwd === undefined && action.env === undefined
        ? action.shell
          ? SHELL_COMMAND
          : ARGV_COMMAND
        : `"cwd":${canonicalJson(action.cwd ?? null)},"env":${canonicalJson(action.env ?? null)},"shell":${action.shell === true}`;
  }
  const parts: StaticParts = {
    code: code ? canonicalJson(code) : "",
    commandRest,
    env: envText,
    options: options ? canonicalJson(options) : "{}",
  };
  // Worth remembering only when it cost something (a step looked up again: watch mode, map items).
  if (code || options || envText !== "{}") env.statics?.set(step, parts);
  return parts;
}

const SHELL_COMMAND = `"cwd":null,"env":null,"shell":true`;
const ARGV_COMMAND = `"cwd":null,"env":null,"shell":false`;

/**
 * The canonical JSON of the step's {@link Components} (byte for byte what canonicalJson would write
 * for them: keys in sorted order), built from memoized static parts plus the run-time values.
 */
function assemble(
  request: RichCacheRequest,
  env: FingerprintEnv,
  code: Components["code"],
  inputs: string,
): Fingerprint {
  const action = request.step.action;
  const fixed = staticParts(request, env, code);
  let text = "{";
  if (fixed.code) text += `"code":${fixed.code},`;
  if (fixed.commandRest !== undefined) {
    // The command line is (today) a function of the inputs, but it is what runs: keyed as such, so a
    // change in how the engine builds command lines can never reuse an old result.
    const argv = commandLine(request);
    if (argv === undefined) throw new Uncacheable("its command line cannot be built from its inputs");
    text += `"command":{"argv":${canonicalJson(argv)},${fixed.commandRest}},`;
  }
  text +=
    `"env":${fixed.env},"executor":"${action.kind === "process" ? "process" : "function"}",` +
    `"format":${FINGERPRINT_FORMAT},"inputs":${inputs},"options":${fixed.options},` +
    `"outputs":${canonicalJson(request.outputs)},"platform":${JSON.stringify(PLATFORM)}}`;
  return { key: digestBytes(text), text };
}

/** The command line of a process step as the engine runs it, or undefined when it cannot be built. */
export function commandLine(request: CacheRequest): string[] | undefined {
  const action = request.step.action;
  if (action.kind !== "process") return undefined;
  try {
    return action.shell ? [request.args.map(String).join(" ")] : toArgv(request.args);
  } catch {
    return undefined;
  }
}

/** True when evaluating the expression loses file digests (an interpolation with non-literal parts). */
function lossy(e: ValueExpr): boolean {
  switch (e.kind) {
    case "concat":
      return e.parts.some((p) => p.kind !== "lit" && p.kind !== "output");
    case "list":
      return e.items.some(lossy);
    case "record":
      return Object.values(e.fields).some(lossy);
    default:
      return false;
  }
}

/** State of one fingerprint computation: digests and glob results read by the async pass. */
interface TextContext {
  request: RichCacheRequest;
  env: FingerprintEnv;
  files?: Map<string, string>;
  globs?: Map<string, { abs: string; shown: string }[]>;
}

/** Canonical texts of literal expressions, which never change (keyed by the expression object). */
const literalTexts = new WeakMap<ValueExpr, string>();

/** `[<input 0>,<input 1>,…]`: each input's canonical JSON; interpolations keep their parts. */
function inputsText(ctx: TextContext): string {
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
      let t = literalTexts.get(e);
      if (t === undefined) {
        // Template text of a command line (`raw`) is not quoted, other literals are: not the same input.
        t = e.raw === true ? `{"$raw":${canonicalJson(e.value)}}` : canonicalJson(e.value);
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
    case "output": {
      let t = literalTexts.get(e);
      if (t === undefined) {
        t = JSON.stringify(e.path);
        literalTexts.set(e, t);
      }
      return t;
    }
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
async function prefetch(e: ValueExpr, ctx: TextContext): Promise<void> {
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
    case "file": {
      const { abs } = filePath(pathValue(e.path, ctx), ctx.env);
      ctx.files!.set(abs, await ctx.env.digest(abs));
      return;
    }
    case "glob": {
      const env = ctx.env;
      // Loaded on first use: most runs have no glob, and start-up time counts for a null build.
      const { glob } = await import("tinyglobby");
      const found = await glob(e.pattern, { cwd: env.root, onlyFiles: true, dot: false });
      found.sort();
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
      if (v === null || typeof v !== "object") throw new Uncacheable(`${e.step} has no field ${key}`);
      v = (v as Record<string | number, unknown>)[key];
    }
  }
  return v;
}

function filePath(p: unknown, env: FingerprintEnv): { abs: string; shown: string } {
  const rel = isFileValue(p) ? p.$file : String(p);
  if (env.rootPrefix !== undefined && !UNCLEAN.test(rel)) return { abs: env.rootPrefix + rel, shown: rel };
  const abs = resolve(env.root, rel);
  return { abs, shown: displayPath(abs, env.root) };
}

/** Paths that `resolve` would change: absolute, empty, `.`/`..` segments, doubled or trailing slashes, `\\`. */
const UNCLEAN = /^$|^\/|\/\/|\/$|\\|(^|\/)\.\.?(\/|$)/;
