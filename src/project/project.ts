import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { CacheStats, GcResult } from "../cache/maintenance.js";
import type { Explanation } from "../cache/explain.js";
import type { CleanResult } from "./clean.js";
import { lastNoOpRun, type SnapshotKey } from "../cache/run-snapshot.js";
import type { Listener } from "../engine/events.js";
import type { Plan } from "../engine/plan.js";
import type { ScheduleMode } from "../engine/scheduler.js";
import { UserError } from "../engine/user-error.js";
import type { Graph, StepId } from "../graph/ir.js";
import type { Diagnostic, FlowInfo } from "../language/index.js";
import { checkCacheSettings, projectCacheDir, settleRemoteOnNoOp, type CacheSettings } from "./cache.js";
import { compileProjectFlow, readFlowFile, resolveFlowFile } from "./flow.js";
import type { RemoteSettings } from "./remote.js";
import type { ProjectRunOptions, ProjectRunResult } from "./run.js";
import { answerNoOp, snapshotKeyOf } from "./no-op-run.js";

export interface OpenProjectOptions {
  /**
   * A flow file (a directory means its pipeline.flow). Default ./pipeline.flow, unless a graph or only a
   * root is given (a project without a flow: its cache and records only).
   */
  flow?: string;
  /** Or a graph built with the TS API (`flow().graph()`) or by hand. */
  graph?: Graph;
  /** The project root: default the flow file's directory, or the current directory for a graph. */
  root?: string;
  /** Values of the flow's `in` declarations (strings are converted as `--input k=v` values are). */
  inputs?: Record<string, unknown>;
  /** The cache; false: none at all, nothing read or written. Default: on, in <root>/.tributary/cache. */
  cache?: CacheSettings | false;
  /** Run steps on `tributary worker`s through Redis. */
  remote?: RemoteSettings;
  /** History, the run record and explain data: default <root>/.tributary. */
  stateDir?: string;
  /** The environment steps get (and whose declared variables key the cache). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** "direct" spawns every process from Node instead of through the job server. */
  spawn?: "auto" | "direct";
}

/**
 * A flow (file or graph) together with everything a run of it uses: its cache and remote cache, the
 * history of step durations, the record of the last complete run, remote workers and reporters. The CLI
 * is argument parsing over this; a TS program gets the very same cached, history-aware runs.
 */
export class Project {
  readonly root: string;
  readonly stateDir: string;
  /** The flow file, when the project is one. */
  readonly file: string | undefined;
  private readonly source: Buffer | undefined;
  private compiled: Promise<{ graph: Graph; info?: FlowInfo; warnings: Diagnostic[] }> | undefined;

  constructor(private readonly options: OpenProjectOptions) {
    if (options.graph || (options.flow === undefined && options.root !== undefined)) {
      this.file = undefined;
      this.root = resolve(options.root ?? process.cwd());
      this.compiled = options.graph
        ? Promise.resolve({ graph: options.graph, warnings: [] })
        : Promise.reject(new UserError(`no flow in the project at ${this.root}`));
      this.compiled.catch(() => {});
    } else {
      this.file = resolveFlowFile(options.flow);
      this.root = resolve(options.root ?? dirname(this.file));
      this.source = readFlowSource(this.file, options.flow);
    }
    this.stateDir = resolve(options.stateDir ?? join(this.root, ".tributary"));
  }

  /** The flow file's text (undefined for a graph). */
  get sourceText(): string | undefined {
    return this.source?.toString("utf8");
  }

  /** The checked, compiled graph (compiled once). Rejects with an InvalidFlowError listing every error. */
  async graph(): Promise<Graph> {
    return (await this.compile()).graph;
  }

  /** What the checker found worth a warning (the flow compiled). */
  async warnings(): Promise<Diagnostic[]> {
    return (await this.compile()).warnings;
  }

  /** The flow's declared inputs, outputs and modules (flow files only). */
  async info(): Promise<FlowInfo | undefined> {
    return (await this.compile()).info;
  }

  /**
   * Runs what the flow needs, skipping what the cache has. When nothing the last complete run depended
   * on changed, answers from its record without compiling the flow or starting the engine (`noOp`).
   */
  async run(opts: ProjectRunOptions = {}): Promise<ProjectRunResult> {
    const key = this.snapshotKey();
    // The same checks as a full run, also when nothing changed: a bad key or a required remote cache
    // that is down must not pass silently.
    if (this.options.cache !== false) await checkCacheSettings(this.options.cache ?? {}, this.env());
    if (
      key &&
      this.options.cache !== false &&
      this.options.cache?.read !== false &&
      opts.trace === undefined &&
      !opts.outputs &&
      !opts.force?.length
    ) {
      const settings = this.options.cache ?? {};
      const answered = await answerNoOp({
        stateDir: this.stateDir,
        root: this.root,
        key,
        env: this.env(),
        listeners: [opts.onEvent ?? []].flat() as Listener[],
        settleRemote: (warn) => settleRemoteOnNoOp(this.root, settings, warn, this.env()),
        record: opts.record
          ? { flow: this.file ? relative(this.root, this.file) : null, concurrency: opts.concurrency ?? 0 }
          : undefined,
      });
      if (answered) return answered;
    }
    // Loaded here, not at the top: the no-op answer above must not pay for the engine, the executors
    // and the reporters (about 60 modules, a third of a null run's time).
    const [graph, { runProject }] = await Promise.all([this.graph(), import("./run.js")]);
    const force = await this.selection(graph, opts);
    return runProject(
      {
        root: this.root,
        stateDir: this.stateDir,
        graph,
        cache: this.options.cache ?? {},
        remote: this.options.remote,
        env: this.env(),
        spawn: this.options.spawn,
        snapshotKey: key,
        force,
        flow: this.file ? relative(this.root, this.file) : undefined,
      },
      opts,
    );
  }

  /** Checks the targets a run or plan names, and turns `--force` patterns into the steps they select. */
  private async selection(
    graph: Graph,
    opts: { outputs?: StepId[]; force?: string[] },
  ): Promise<((id: StepId) => boolean) | undefined> {
    if (!opts.outputs && !opts.force?.length) return undefined;
    const names = await import("./step-names.js");
    if (opts.outputs) names.checkTargets(graph, opts.outputs, this.where());
    return opts.force?.length ? names.forcedSteps(graph, opts.force, this.where()) : undefined;
  }

  /** How messages name this project: its flow file (from the current directory), else its root. */
  private where(): string {
    return this.file ? relative(process.cwd(), this.file) || basename(this.file) : this.root;
  }

  /**
   * What a run would do, without doing it: what is cached, what runs, in which order, how long. With
   * `outputs` and `force` as for {@link run}.
   */
  async plan(
    opts: { concurrency?: number; mode?: ScheduleMode; outputs?: StepId[]; force?: string[] } = {},
  ): Promise<Plan> {
    const full = await this.graph();
    const force = await this.selection(full, opts);
    // The plan of targets is the plan of a graph whose outputs they are.
    const graph = opts.outputs ? { ...full, outputs: opts.outputs } : full;
    const [{ planGraph }, { openProjectCache }, { DurationHistory }] = await Promise.all([
      import("../engine/plan.js"),
      import("./cache.js"),
      import("./history.js"),
    ]);
    const history = await DurationHistory.load(join(this.stateDir, "history.json"));
    const warnings: string[] = [];
    const cache =
      this.options.cache === false
        ? undefined
        : await openProjectCache(
            this.root,
            this.options.cache ?? {},
            (m) => warnings.push(m),
            this.env(),
            force,
          );
    try {
      return await planGraph(graph, {
        concurrency: opts.concurrency ?? availableParallelism() + 2,
        mode: opts.mode,
        root: this.root,
        cache: cache?.stepCache,
        estimate: history.estimate,
      });
    } finally {
      await cache?.close();
    }
  }

  /** Why a step ran or was restored in the last run. */
  async explain(stepId: string): Promise<Explanation> {
    const noOp = lastNoOpRun(this.stateDir);
    if (noOp?.steps.includes(stepId)) {
      return {
        stepId,
        decision: "restored",
        cause: "no-op-run",
        detail: `at ${noOp.at}`,
        changes: [],
        run: "last",
      };
    }
    const { explainLastRun } = await import("../cache/index.js");
    const e = explainLastRun({ root: this.root, dir: await this.cacheDir() }, stepId);
    if (e.decision === "unknown") {
      const { mapOfItem } = await import("./step-names.js");
      const map = mapOfItem(stepId);
      if (map !== undefined) await this.suggestItem(stepId, map);
      else if (this.file) await this.checkStepExists(stepId);
    }
    return e;
  }

  /** Items are named by their keys: the nearest item of the map the last run recorded is the likely one. */
  private async suggestItem(stepId: StepId, map: StepId): Promise<void> {
    const { recordedSteps } = await import("../cache/index.js");
    const { mapOfItem } = await import("./step-names.js");
    const { suggest } = await import("../graph/topology.js");
    const items = recordedSteps({ root: this.root, dir: await this.cacheDir() }).filter(
      (id) => mapOfItem(id) === map,
    );
    const hint = suggest(stepId, items);
    if (hint) throw new UserError(`no item ${stepId} in the last recorded run of ${this.where()}; ${hint}`);
  }

  /** A step the flow does not have is a user error, with the nearest names. */
  private async checkStepExists(stepId: string): Promise<void> {
    const graph = await this.graph();
    const { mapOfItem, unknownStepError } = await import("./step-names.js");
    // A map item is named after its map: `scores[3]`.
    const map = mapOfItem(stepId);
    if (graph.steps.some((s) => s.id === stepId || s.id === map)) return;
    throw unknownStepError(`no step ${stepId}`, stepId, graph, this.where());
  }

  /**
   * Removes the files the flow's steps declare with `output(...)`, and those the last recorded run of
   * each map item wrote (as its cache entry names them); never a file the flow reads, nothing outside
   * the project (refused, and said why). `dryRun`: says what would be removed, removes nothing.
   */
  async clean(opts: { dryRun?: boolean } = {}): Promise<CleanResult> {
    const [graph, info, { cleanOutputs }, { mapOfItem }] = await Promise.all([
      this.graph(),
      this.info(),
      import("./clean.js"),
      import("./step-names.js"),
    ]);
    const maps = new Set(graph.steps.filter((s) => s.action.kind === "map").map((s) => s.id));
    const recorded: string[] = [];
    if (maps.size > 0) {
      const { recordedOutputs } = await import("../cache/index.js");
      const byItem = recordedOutputs({ root: this.root, dir: await this.cacheDir() }, (id) =>
        maps.has(mapOfItem(id) ?? ""),
      );
      for (const paths of byItem.values()) recorded.push(...paths);
    }
    const keep = [...(this.file ? [this.file] : []), ...(info?.modules ?? [])];
    if (opts.dryRun || !existsSync(this.stateDir))
      return cleanOutputs(this.root, graph, { ...opts, recorded, keep });
    // Not while a run writes these very files.
    const [{ acquireRunLock }, { ownerToken }] = await Promise.all([
      import("./run-lock.js"),
      import("../executors/process/reaper.js"),
    ]);
    const lock = acquireRunLock(this.stateDir, ownerToken(), "tributary clean");
    try {
      return cleanOutputs(this.root, graph, { ...opts, recorded, keep });
    } finally {
      lock.release();
    }
  }

  /** The cache directory this project uses. */
  cacheDir(): Promise<string> {
    return projectCacheDir(this.root, this.options.cache || {});
  }

  async cacheStats(): Promise<CacheStats> {
    const { cacheStats } = await import("../cache/index.js");
    return cacheStats(await this.cacheDir());
  }

  /** Trims the cache to at most `maxBytes`, least recently used first. */
  async gc(maxBytes: number): Promise<GcResult> {
    const { gc } = await import("../cache/index.js");
    return gc(await this.cacheDir(), { maxBytes });
  }

  /** Removes the whole cache. */
  async cleanCache(): Promise<{ freedBytes: number }> {
    const { clean } = await import("../cache/index.js");
    return clean(await this.cacheDir());
  }

  private env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  private compile(): Promise<{ graph: Graph; info?: FlowInfo; warnings: Diagnostic[] }> {
    this.compiled ??= compileProjectFlow(
      this.file!,
      this.source!.toString("utf8"),
      this.options.inputs ?? {},
      this.root,
    );
    return this.compiled;
  }

  /** What identifies a run of a flow file for the no-op record: the file's bytes, inputs, version. */
  private snapshotKey(): SnapshotKey | undefined {
    return this.source && snapshotKeyOf(this.source, this.options.inputs);
  }
}

function readFlowSource(file: string, asGiven: string | undefined): Buffer {
  try {
    return readFlowFile(file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserError(`cannot read the flow file ${asGiven ?? file} (${why})`);
  }
}

/** Opens a project: a flow file (read now, compiled when first needed) or a graph. */
export function openProject(options: OpenProjectOptions = {}): Project {
  return new Project(options);
}
