import { isAbsolute, normalize, basename, dirname, resolve, sep } from "node:path";
import type { Listener } from "../engine/events.js";
import type { Executor } from "../engine/executor.js";
import type { RunSummary, StepResult } from "../engine/result.js";
import { UserError } from "../engine/user-error.js";
import type { Graph, StepId, ValueExpr } from "../graph/ir.js";
import { bindInputs, inputsIn, RunInputTemplate } from "../graph/run-inputs.js";
import { sinks, type Topology } from "../graph/topology.js";
import { inputExpr, type InputInfo, type Type } from "../language/index.js";
import type { CacheSettings, ProjectCache } from "./cache.js";

/** One input a run of a loaded flow takes. */
export interface FlowParameter {
  name: string;
  /** The declared type. */
  type: Type;
  /** The type as written in the flow (`List<String>`). */
  typeText: string;
  /** No default and not Optional: a run must give it. */
  required: boolean;
  /** The default's source text. */
  default?: string;
}

export interface LoadFlowOptions {
  /** The project root: default the flow file's directory (the current directory for a graph). */
  root?: string;
  /**
   * The cache: per-run results keyed by content, in <root>/.tributary/cache. Default false: a flow served
   * per request usually computes values for that request only.
   */
  cache?: CacheSettings | false;
  /** Inputs fixed when the flow is loaded (as `--input k=v` gives them): runs cannot give them. */
  fixed?: Record<string, unknown>;
  /** Slots for concurrently running steps of one run (`-j`). Default: cores + 2. */
  concurrency?: number;
  /** The environment steps get. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Import the flow's module files again when their content changed since this process imported them
   * (to reload a flow while serving). Only the files the flow `use`s: what they import stays as first
   * loaded, and so do worker-thread modules.
   */
  freshModules?: boolean;
}

export interface FlowRunOptions {
  /** Aborting it cancels the run: running steps are stopped. */
  signal?: AbortSignal;
  /** The events of this run only. */
  onEvent?: Listener | Listener[];
}

export interface FlowRunResult<O = Record<StepId, unknown>> {
  ok: boolean;
  cancelled: boolean;
  /** The values of the flow's outputs that were produced. */
  outputs: Partial<O>;
  steps: StepResult[];
  summary: RunSummary;
}

export interface InputProblem {
  input: string;
  message: string;
}

/** Inputs a run was given that the flow cannot take: every problem, one per input. */
export class InvalidInputsError extends UserError {
  override name = "InvalidInputsError";

  constructor(
    flow: string,
    readonly problems: readonly InputProblem[],
  ) {
    super(`bad inputs for ${flow}: ${problems.map((p) => `${p.input}: ${p.message}`).join("; ")}`);
  }
}

/**
 * A flow checked and compiled once, run many times, concurrently: each run binds its own inputs to the
 * shared graph and has its own results, events and cancellation, while executors, the cache and the
 * module limits (see engine/module-gates.ts) are shared by all of them.
 */
export class RunnableFlow<I = Record<string, unknown>, O = Record<StepId, unknown>> {
  readonly parameters: FlowParameter[];
  readonly outputs: { id: StepId; type: Type | undefined }[];
  private readonly template: RunInputTemplate;
  private readonly defaults: Map<string, ValueExpr | undefined>;
  private readonly byName: Map<string, FlowParameter>;
  private flushing: Promise<void> | undefined;
  private engine: Promise<typeof import("../engine/run.js")> | undefined;
  /** Validated once: every run's graph has the template's steps and references. */
  private readonly topology: Topology;
  private flushAgain = false;

  /** @internal: made by {@link loadFlow}. */
  constructor(
    readonly name: string,
    readonly file: string | undefined,
    readonly root: string,
    graph: Graph,
    topology: Topology,
    inputs: readonly InputInfo[],
    outputTypes: Record<StepId, Type>,
    /** Absolute paths of the module files the flow uses. */
    readonly modules: readonly string[],
    private readonly fixed: ReadonlySet<string>,
    private readonly executors: readonly Executor[],
    private readonly cache: ProjectCache | undefined,
    private readonly options: LoadFlowOptions,
  ) {
    this.template = new RunInputTemplate(graph);
    this.topology = topology;
    const perRun = inputs.filter((i) => i.perRun !== undefined);
    this.parameters = perRun.map((i) => ({
      name: i.name,
      type: i.spec,
      typeText: i.type,
      required: i.perRun!.default === undefined,
      ...(i.default !== undefined ? { default: i.default } : {}),
    }));
    this.defaults = new Map(perRun.map((i) => [i.name, i.perRun!.default]));
    this.byName = new Map(this.parameters.map((p) => [p.name, p]));
    const outs = graph.outputs?.length ? graph.outputs : sinks(topology).map((i) => topology.ids[i]!);
    this.outputs = outs.map((id) => ({ id, type: outputTypes[id] }));
  }

  /**
   * Checks and converts a run's inputs (JSON values; strings convert as `--input k=v` values do): every
   * unknown, missing or ill-typed input is a problem, and so is a file outside the project.
   */
  checkInputs(
    raw: unknown,
  ): { ok: true; values: Record<string, unknown> } | { ok: false; problems: InputProblem[] } {
    const bound = this.bindAll(raw);
    if ("problems" in bound) return { ok: false, problems: bound.problems };
    const values: Record<string, unknown> = Object.create(null);
    for (const [k, e] of bound.exprs) values[k] = e.kind === "lit" ? e.value : e;
    return { ok: true, values };
  }

  /** One run with these inputs. Rejects with an {@link InvalidInputsError} before anything runs. */
  async run(inputs: I = {} as I, options: FlowRunOptions = {}): Promise<FlowRunResult<O>> {
    const bound = this.bindAll(inputs);
    if ("problems" in bound) throw new InvalidInputsError(this.name, bound.problems);
    const { runGraph } = await (this.engine ??= import("../engine/run.js"));
    const result = await runGraph(this.template.bind(bound.exprs), {
      topology: this.topology,
      executors: this.executors,
      concurrency: this.options.concurrency,
      root: this.root,
      env: this.options.env ?? process.env,
      cache: this.cache?.stepCache,
      signal: options.signal,
      onEvent: options.onEvent,
    });
    if (this.cache) this.flushSoon();
    // As it is: its steps, summary and outputs are built when first read.
    return result as FlowRunResult<O>;
  }

  /** Closes the executors and the cache: runs still in progress are not waited for. */
  async close(): Promise<void> {
    const { closeExecutors } = await import("./executors.js");
    await Promise.allSettled([closeExecutors(this.executors), this.cache?.close()]);
  }

  /** The expression each per-run input stands for in this run, in declaration order (defaults may use earlier ones). */
  private bindAll(raw: unknown): { exprs: Map<string, ValueExpr> } | { problems: InputProblem[] } {
    const problems: InputProblem[] = [];
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      return {
        problems: [{ input: "", message: `inputs must be an object of named values, got ${describe(raw)}` }],
      };
    }
    const given = raw as Record<string, unknown>;
    for (const k of Object.keys(given)) {
      if (this.byName.has(k)) continue;
      problems.push({
        input: k,
        message: this.fixed.has(k)
          ? `${k} was fixed when the flow was loaded; a run cannot change it`
          : `unknown input; ${this.parameters.length ? `the inputs are ${this.parameters.map((p) => p.name).join(", ")}` : "this flow takes no inputs"}`,
      });
    }
    const exprs = new Map<string, ValueExpr>();
    for (const p of this.parameters) {
      if (Object.hasOwn(given, p.name) && given[p.name] !== undefined) {
        const b = inputExpr(given[p.name], p.type);
        if ("error" in b) {
          problems.push({ input: p.name, message: `${b.error} (${p.name} is ${p.typeText})` });
          continue;
        }
        const outside = fileOutside(b.expr);
        if (outside !== undefined) {
          problems.push({
            input: p.name,
            message: `${JSON.stringify(outside)} is not a path inside the project`,
          });
          continue;
        }
        exprs.set(p.name, b.expr);
      } else {
        const dflt = this.defaults.get(p.name);
        if (dflt === undefined) problems.push({ input: p.name, message: `required (${p.typeText})` });
        // A default that uses an input with a problem of its own is not a problem more.
        else if (inputsIn(dflt).every((n) => exprs.has(n))) exprs.set(p.name, bindInputs(dflt, exprs));
      }
    }
    return problems.length > 0 ? { problems } : { exprs };
  }

  /** Writes what runs stored (index, stat cache) soon, once at a time, so that many runs cost one flush. */
  private flushSoon(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = this.cache!.stepCache.flush()
      .catch(() => {})
      .finally(() => {
        this.flushing = undefined;
        if (this.flushAgain) {
          this.flushAgain = false;
          this.flushSoon();
        }
      });
  }
}

/** The path of a file input that names a file outside the project (absolute, or climbing out), if any. */
function fileOutside(e: ValueExpr): string | undefined {
  switch (e.kind) {
    case "file": {
      const p = e.path.kind === "lit" ? String(e.path.value) : undefined;
      if (p === undefined) return undefined;
      const n = normalize(p);
      return isAbsolute(p) || n === ".." || n.startsWith(`..${sep}`) ? p : undefined;
    }
    case "list":
      return firstDefined(e.items.map(fileOutside));
    case "record":
      return firstDefined(Object.values(e.fields).map(fileOutside));
    default:
      return undefined;
  }
}

function firstDefined(xs: (string | undefined)[]): string | undefined {
  return xs.find((x) => x !== undefined);
}

function describe(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "a list" : typeof v;
}

/**
 * Loads a flow to run many times: a flow file is read, checked and compiled once, its modules imported
 * once; or a graph built with the TS API is taken as it is. Inputs not `fixed` are given per run. Rejects
 * with an InvalidFlowError listing every error of the file.
 */
export async function loadFlow<I = Record<string, unknown>, O = Record<StepId, unknown>>(
  flow: string | { graph: Graph; name?: string },
  options: LoadFlowOptions = {},
): Promise<RunnableFlow<I, O>> {
  const [{ compileProjectFlow, readFlowFile, resolveFlowFile }, { localExecutors }] = await Promise.all([
    import("./flow.js"),
    import("./executors.js"),
  ]);
  let name: string;
  let file: string | undefined;
  let root: string;
  let graph: Graph;
  let inputs: InputInfo[] = [];
  let outputTypes: Record<StepId, Type> = {};
  let modules: string[] = [];
  if (typeof flow === "string") {
    file = resolveFlowFile(flow);
    root = resolve(options.root ?? dirname(file));
    name = basename(file).replace(/\.flow$/, "");
    const source = readFlowFile(file).toString("utf8");
    const compiled = await compileProjectFlow(file, source, options.fixed ?? {}, root, {
      perRunInputs: true,
      freshModules: options.freshModules,
    });
    ({ graph } = compiled);
    ({ inputs, outputTypes, modules } = compiled.info);
  } else {
    root = resolve(options.root ?? process.cwd());
    name = flow.name ?? "flow";
    graph = flow.graph;
  }
  const { validateGraph, InvalidGraphError } = await import("../graph/validate.js");
  const { topology, errors } = validateGraph(graph, { concurrency: options.concurrency });
  if (errors.length > 0) throw new InvalidGraphError(errors);
  let cache: ProjectCache | undefined;
  if (options.cache !== false && options.cache !== undefined) {
    const { openProjectCache } = await import("./cache.js");
    cache = await openProjectCache(root, options.cache, () => {}, options.env ?? process.env);
  }
  return new RunnableFlow<I, O>(
    name,
    file,
    root,
    graph,
    topology,
    inputs,
    outputTypes,
    modules,
    new Set(Object.keys(options.fixed ?? {})),
    localExecutors({ concurrency: options.concurrency }),
    cache,
    options,
  );
}
