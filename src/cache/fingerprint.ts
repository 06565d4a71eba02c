import type { CacheRequest } from "../engine/cache-port.js";
import { toArgv } from "../graph/eval.js";
import { NOT_IN_KEY_OPTIONS } from "../graph/options.js";
import { canonicalJson, NotCanonical } from "../graph/canonical.js";
import { digestBytes } from "../graph/digest.js";
import type { CodeIdentity, ModuleGraph } from "../graph/module-code.js";
import {
  inputsText,
  lossy,
  NeedsIO,
  prefetch,
  Uncacheable,
  type InputsEnv,
  type RichCacheRequest,
  type TextContext,
} from "./fingerprint-inputs.js";

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
export interface FingerprintEnv extends InputsEnv {
  env: NodeJS.ProcessEnv;
  modules: ModuleGraph;
  /** Memo of the parts of a step's fingerprint that are fixed for the run. */
  statics?: WeakMap<object, StaticParts>;
}

export type { RichCacheRequest } from "./fingerprint-inputs.js";

const PLATFORM = `${process.platform}-${process.arch}`;

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
