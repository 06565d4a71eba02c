/**
 * `module()`: how a `use` file declares a typed module for flow files.
 *
 *     export const GetUser = module({
 *       input: [z.string()],
 *       output: User,
 *       run: async (id) => fetchUser(id),   // id: string, inferred from the input schema
 *       throttle: "20/s",
 *     });
 *
 * The schemas are any Standard Schema (zod 4, valibot, arktype, ...). The flow compiler reads their JSON
 * Schema (`~standard.jsonSchema`, when the library offers it) to type check calls before anything runs;
 * at run time every input and the result are validated, and a mismatch fails the step with a clear
 * message. This file is loaded by user modules and worker threads: keep it free of heavy imports.
 */
import type { StandardSchemaV1 } from "./standard-schema.js";
import type { StepContext } from "../graph/ir.js";

/** Marks module definitions; `Symbol.for` so that two copies of this file still agree. */
export const MODULE_MARK: unique symbol = Symbol.for("tributary.module") as never;

export type Schemas = readonly StandardSchemaV1[];

/** The parameter types of the implementation: what each input schema produces after validation. */
export type InferArgs<I extends Schemas> = { -readonly [K in keyof I]: StandardSchemaV1.InferOutput<I[K]> };

/** What a caller passes: what each input schema accepts (before transforms). */
export type InferCallArgs<I extends Schemas> = {
  -readonly [K in keyof I]: StandardSchemaV1.InferInput<I[K]>;
};

export interface ModuleOptions {
  /** Declared code version: replaces the code digest in cache keys (bump it to invalidate). */
  version?: string;
  /** Run in a worker thread (CPU-bound work); the thread loads the module by file and export name. */
  cpu?: boolean;
  /** At most this many steps of this module run at once, across the whole flow. */
  concurrency?: number;
  /** At most this many starts per period, across the whole flow: `20/s`, `100/1min`. */
  throttle?: string;
}

export interface ModuleDef<A extends unknown[] = any[], R = unknown> extends ModuleOptions {
  readonly [MODULE_MARK]: true;
  readonly input?: Schemas;
  readonly output?: StandardSchemaV1;
  /**
   * Validates the inputs, calls the implementation, validates its result. Called by the engine with the
   * step context as `this`; called directly (`GetUser.run("1")`), it makes up a context.
   */
  readonly run: (...args: A) => Promise<R>;
  /** The implementation as written, without validation (it takes the validated, transformed values). */
  readonly impl: (this: StepContext, ...args: any[]) => unknown;
  /** The export name, once a flow file has loaded the module (for messages). */
  name?: string;
}

type RunFn<I extends Schemas, R> = (this: StepContext, ...args: InferArgs<I>) => R | Promise<R>;

/** A module with an output schema: `run` must return what the schema accepts. */
export function module<const I extends Schemas = [], O extends StandardSchemaV1 = StandardSchemaV1>(
  def: ModuleOptions & { input?: I; output: O; run: RunFn<I, StandardSchemaV1.InferInput<O>> },
): ModuleDef<InferCallArgs<I>, StandardSchemaV1.InferOutput<O>>;
/** A module without an output schema: its result is whatever `run` returns. */
export function module<const I extends Schemas = [], R = unknown>(
  def: ModuleOptions & {
    input?: I;
    output?: undefined;
    run: (this: StepContext, ...args: InferArgs<I>) => R;
  },
): ModuleDef<InferCallArgs<I>, Awaited<R>>;
export function module(
  def: ModuleOptions & { input?: Schemas; output?: StandardSchemaV1; run: (...args: any[]) => unknown },
): ModuleDef {
  if (typeof def?.run !== "function") throw new TypeError("module() needs a run function");
  const input = def.input;
  const output = def.output;
  const impl = def.run;
  const mod: { -readonly [K in keyof ModuleDef]: ModuleDef[K] } = {
    [MODULE_MARK]: true,
    input,
    output,
    impl,
    version: def.version,
    cpu: def.cpu,
    concurrency: def.concurrency,
    throttle: def.throttle,
    run: undefined as never,
  };
  mod.run = async function run(this: unknown, ...args: unknown[]): Promise<unknown> {
    const who = mod.name ?? (impl.name && impl.name !== "run" ? impl.name : "module");
    let parsed = args;
    if (input) {
      if (args.length > input.length) {
        throw new ModuleValueError(
          `${who} takes ${input.length} argument${input.length === 1 ? "" : "s"}, got ${args.length}`,
        );
      }
      parsed = new Array(input.length);
      for (let i = 0; i < input.length; i++) {
        const r = await input[i]!["~standard"].validate(args[i]);
        if (r.issues) {
          throw new ModuleValueError(
            `${who}: argument ${i + 1} does not match its input schema: ${formatIssues(r.issues)}`,
          );
        }
        parsed[i] = r.value;
      }
    }
    const ctx: StepContext = isContext(this)
      ? this
      : { stepId: who, attempt: 1, root: process.cwd(), signal: new AbortController().signal };
    const value = await impl.apply(ctx, parsed);
    if (!output) return value;
    const r = await output["~standard"].validate(value);
    if (r.issues) {
      throw new ModuleValueError(
        `${who} returned a value that does not match its output schema: ${formatIssues(r.issues)}`,
      );
    }
    return r.value;
  };
  return mod as ModuleDef;
}

function isContext(v: unknown): v is StepContext {
  return (
    typeof v === "object" && v !== null && typeof (v as StepContext).stepId === "string" && "signal" in v
  );
}

/** True for what `module()` returns (also when it came from another copy of this file). */
export function isModuleDef(v: unknown): v is ModuleDef {
  return (
    typeof v === "object" &&
    v !== null &&
    (v as Record<symbol, unknown>)[MODULE_MARK] === true &&
    typeof (v as ModuleDef).run === "function"
  );
}

/**
 * A value that failed its module's schema. `kind: "value"` is what the engine's error kinds call it;
 * retrying cannot fix it.
 */
export class ModuleValueError extends Error {
  override name = "ModuleValueError";
  readonly kind = "value";
}

function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => (typeof p === "object" && p !== null ? p.key : p))
        .map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`))
        .join("");
      return path ? `at ${path}: ${issue.message}` : issue.message;
    })
    .join("; ")
    .concat(issues.length > 5 ? `; and ${issues.length - 5} more` : "");
}
