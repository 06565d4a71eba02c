import { fileURLToPath } from "node:url";
import type { Graph, ModuleLimits, Step, StepAction, StepOptions, ValueExpr } from "../graph/ir.js";
import { DEFAULT_BACKOFF, PRIORITY_WORDS, WITH_OPTIONS, type WithOption } from "../graph/options.js";
import { parseDuration, parseRate, parseSize } from "../graph/units.js";
import { runGraph, type RunOptions } from "../project/run-graph.js";
import type { RunResult } from "../engine/result.js";

const HANDLE = Symbol("tributary.handle");

/**
 * A step's future value. It carries the awaited return type of the step's function, so wiring it into
 * a parameter of another type is a compile error. It has no string-keyed members on purpose: a handle
 * must never structurally pass for a record parameter.
 */
export class Handle<T> {
  declare readonly [HANDLE]: { readonly type?: T };
  /** @internal */
  readonly expr: ValueExpr;

  /** @internal */
  constructor(expr: ValueExpr) {
    this.expr = expr;
  }

  /** A field of the value (`user.id`), as a handle of its own. */
  field<K extends keyof T & (string | number)>(key: K): Handle<T[K]> {
    const e = this.expr as Extract<ValueExpr, { kind: "ref" }>;
    return new Handle<T[K]>({ kind: "ref", step: e.step, at: e.at, path: [...(e.path ?? []), key] });
  }
}

/** A content-hashed input file. */
export class FileInput {
  /** @internal */
  constructor(readonly path: string) {}
}

/** A file a command produces. */
export class OutputFile {
  /** @internal */
  constructor(readonly path: string) {}
}

/** Each parameter accepts a value of its type or a handle to one. */
export type Arg<P> = P | Handle<P>;
export type ArgsOf<P extends readonly unknown[]> = { [K in keyof P]: Arg<P[K]> };
export type Args<F extends (...args: any[]) => any> = ArgsOf<Parameters<F>>;

/** A command-line word: text, a number, a file, an output, or a handle to any of those. */
export type Word = string | number | FileInput | OutputFile | Handle<unknown>;

export interface StepSettings {
  id: string;
  /** Module name for limits and display; defaults to the function's name. */
  module?: string;
  priority?: number | "low" | "normal" | "high";
  retries?: number;
  /** Backoff base delay and cap, e.g. { initial: "200ms", max: "10s" }. */
  backoff?: { initial?: string | number; max?: string | number; factor?: number; jitter?: number };
  timeout?: string | number;
  pool?: string;
  cpus?: number;
  /** A size ("2GB", "512MiB") or a number of bytes. */
  memory?: string | number;
  cache?: boolean;
  estimate?: string | number;
  partial?: boolean;
  version?: string;
  env?: string[];
}

export interface ModuleSettings {
  concurrency?: number;
  /** `20/s`, `100/1min`. */
  throttle?: string;
}

type Fn = (...args: any[]) => any;

/** A function to run in a worker thread: loaded by file and export name, since closures cannot travel. */
export interface ThreadModule<F extends Fn> {
  readonly file: string;
  readonly exportName: string;
  readonly __fn?: F;
}

/**
 * Builds a graph in TypeScript; the flow language produces the very same IR.
 *
 *     const t = flow();
 *     const user = t.step("user", getUser, userId);
 *     const profile = t.step("profile", buildProfile, user, orders);
 *     const r = await t.run(profile, { concurrency: 8 });
 */
export class FlowBuilder {
  private readonly steps: Step[] = [];
  private lastFn: Fn | undefined;
  private lastFnAction: StepAction | undefined;
  private readonly limits: Record<string, ModuleLimits> = {};
  private readonly pools: Record<string, number> = {};

  /** A step that calls `fn` in-process with the given values and handles. */
  step<F extends Fn>(
    idOrSettings: string | StepSettings,
    fn: F,
    ...args: Args<F>
  ): Handle<Awaited<ReturnType<F>>> {
    const settings = typeof idOrSettings === "string" ? { id: idOrSettings } : idOrSettings;
    // Loops add many steps of one function: they share one action object (the IR never mutates it).
    if (fn !== this.lastFn) this.lastFnAction = { kind: "function", fn };
    this.lastFn = fn;
    return this.add(settings, settings.module ?? (fn.name || settings.id), this.lastFnAction!, args);
  }

  /** A step whose function runs in a worker thread (for CPU-bound work). */
  threaded<F extends Fn>(
    idOrSettings: string | StepSettings,
    module: ThreadModule<F>,
    ...args: Args<F>
  ): Handle<Awaited<ReturnType<F>>> {
    const settings = typeof idOrSettings === "string" ? { id: idOrSettings } : idOrSettings;
    const action: StepAction = {
      kind: "function",
      thread: true,
      ref: { file: module.file, exportName: module.exportName },
    };
    return this.add(settings, settings.module ?? module.exportName, action, args);
  }

  /** A child process, argv without a shell. Its value: its output file(s), else its stdout. */
  exec(idOrSettings: string | StepSettings, argv: Word[], env?: Record<string, string>): Handle<any> {
    const settings = typeof idOrSettings === "string" ? { id: idOrSettings } : idOrSettings;
    return this.add(settings, settings.module ?? "exec", { kind: "process", env }, argv);
  }

  /** A /bin/sh command line; every interpolated value is quoted, so none can inject shell syntax. */
  sh(idOrSettings: string | StepSettings): (strings: TemplateStringsArray, ...values: Word[]) => Handle<any> {
    const settings = typeof idOrSettings === "string" ? { id: idOrSettings } : idOrSettings;
    return (strings, ...values) => {
      const parts: ValueExpr[] = [];
      strings.forEach((s, k) => {
        if (s) parts.push({ kind: "lit", value: s, raw: true });
        if (k < values.length) parts.push(toExpr(values[k]));
      });
      const line: ValueExpr = { kind: "concat", parts, quote: "shell" };
      return this.addStep(settings, settings.module ?? "sh", { kind: "process", shell: true }, [line]);
    };
  }

  /** One step per item of a list known only at run time; the value is the list of results. */
  map<F extends (item: any) => any>(
    idOrSettings: string | StepSettings,
    list: Arg<Parameters<F>[0][]>,
    fn: F,
  ): Handle<Awaited<ReturnType<F>>[]> {
    const settings = typeof idOrSettings === "string" ? { id: idOrSettings } : idOrSettings;
    const module = settings.module ?? (fn.name || settings.id);
    return this.addStep(settings, module, { kind: "map", module, item: { kind: "function", fn } }, [
      toExpr(list),
      ITEM,
    ]);
  }

  file(path: string): FileInput {
    return new FileInput(path);
  }

  output(path: string): OutputFile {
    return new OutputFile(path);
  }

  /** Limits that hold across every step of a module (by function name or `module` setting). */
  limit(module: string | Fn, settings: ModuleSettings): this {
    const name = typeof module === "string" ? module : module.name;
    const rate = settings.throttle === undefined ? undefined : parseRate(settings.throttle);
    if (settings.throttle !== undefined && !rate) {
      throw new RangeError(`throttle "${settings.throttle}" is not a rate; write it like 20/s or 100/1min`);
    }
    this.limits[name] = { concurrency: settings.concurrency, rate };
    return this;
  }

  pool(name: string, capacity: number): this {
    this.pools[name] = capacity;
    return this;
  }

  graph(outputs?: Handle<unknown>[]): Graph {
    return {
      steps: this.steps,
      outputs: outputs?.map((h) => (h.expr as Extract<ValueExpr, { kind: "ref" }>).step),
      limits: this.limits,
      pools: this.pools,
    };
  }

  /** Runs what `target` needs (default: everything) and returns every step's outcome plus the target's value. */
  async run<T>(
    target?: Handle<T> | Handle<unknown>[],
    options: RunOptions = {},
  ): Promise<RunResult & { value: T | undefined }> {
    const targets = target === undefined ? undefined : Array.isArray(target) ? target : [target];
    const result = await runGraph(this.graph(targets), options);
    const first = targets?.[0] && (targets[0].expr as Extract<ValueExpr, { kind: "ref" }>).step;
    // Assigned, not spread: spreading would force the lazy `outputs` of every sink.
    return Object.assign(result, {
      value: (first === undefined ? undefined : result.outputs[first]) as T | undefined,
    });
  }

  private add(
    settings: StepSettings,
    module: string,
    action: StepAction,
    args: readonly unknown[],
  ): Handle<any> {
    return this.addStep(settings, module, action, args.length === 0 ? NO_INPUTS : args.map(toExpr));
  }

  private addStep(
    settings: StepSettings,
    module: string,
    action: StepAction,
    inputs: ValueExpr[],
  ): Handle<any> {
    const at =
      this.steps.push({ id: settings.id, module, action, inputs, options: stepOptions(settings) }) - 1;
    return new Handle({ kind: "ref", step: settings.id, at });
  }
}

/** Refers to a function exported by a module file, to run in a worker thread. */
export function threadModule<F extends Fn>(file: string | URL, exportName: string): ThreadModule<F> {
  return { file: typeof file === "string" ? file : fileURLToPath(file), exportName };
}

export function flow(): FlowBuilder {
  return new FlowBuilder();
}

/** The item, as the one argument of a map's function. */
const ITEM: ValueExpr = { kind: "item" };

function toExpr(v: unknown): ValueExpr {
  if (v instanceof Handle) return v.expr;
  if (v instanceof FileInput) return { kind: "file", path: { kind: "lit", value: v.path } };
  if (v instanceof OutputFile) return { kind: "output", path: v.path };
  return { kind: "lit", value: v };
}

function ms(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined || typeof v === "number") return v;
  const d = parseDuration(v);
  if (d === undefined)
    throw new RangeError(`${what} "${v}" is not a duration; write it like 150ms, 2s or 5min`);
  return d;
}

/**
 * Shared by every step without inputs or options: 100k no-op steps should not cost 200k empty objects
 * (their allocation and garbage collection were a measurable part of the in-process overhead). The IR is
 * never mutated after it is built; frozen so that a change would fail loudly.
 */
const NO_INPUTS: ValueExpr[] = Object.freeze([]) as unknown as ValueExpr[];
const NO_OPTIONS: StepOptions = Object.freeze({});

function stepOptions(s: StepSettings): StepOptions {
  // A string id becomes `{ id }`: no option to read.
  for (const k in s) if (k !== "id" && k !== "module") return readStepOptions(s);
  return NO_OPTIONS;
}

/** The options of the table that land in StepOptions (module limits are set with limit()). */
const STEP_SETTINGS = WITH_OPTIONS.flatMap((opt) =>
  "step" in opt.target ? [{ opt, field: opt.target.step }] : [],
);

function readStepOptions(s: StepSettings): StepOptions {
  const o: Record<string, unknown> = {};
  for (const { opt, field } of STEP_SETTINGS) {
    const v = fromSetting(opt, (s as unknown as Record<string, unknown>)[opt.setting]);
    if (v !== undefined) o[field] = v;
  }
  return o as StepOptions;
}

/** A setting's value as the IR holds it: durations may be text ("2s"), priorities words. */
function fromSetting(opt: WithOption, v: unknown): unknown {
  if (v === undefined) return undefined;
  switch (opt.value.kind) {
    case "priority":
      return typeof v === "number" ? v : PRIORITY_WORDS[v as string];
    case "duration":
      return ms(v as string | number, opt.setting);
    case "size":
      return typeof v === "number" ? v : parseSize(v as string);
    case "backoff": {
      if (!v) return undefined;
      const b = v as NonNullable<StepSettings["backoff"]>;
      return {
        initialMs: ms(b.initial, "backoff") ?? DEFAULT_BACKOFF.initialMs,
        maxMs: ms(b.max, "backoff max") ?? DEFAULT_BACKOFF.maxMs,
        factor: b.factor ?? DEFAULT_BACKOFF.factor,
        jitter: b.jitter ?? DEFAULT_BACKOFF.jitter,
      };
    }
    default:
      return v;
  }
}
