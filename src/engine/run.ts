import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import { digestFile } from "../cache/digest.js";
import type { FileValue, Graph, Step, StepContext, StepFn, StepId, ValueExpr } from "../graph/ir.js";
import { ancestorsOf, sinks, type Topology } from "../graph/topology.js";
import { validateGraph, InvalidGraphError } from "../graph/validate.js";
import { killAllProcessGroups, runProcess, type ProcessSpec } from "../executors/child-process.js";
import { ProcessServer } from "../executors/process-server.js";
import { loadFunction } from "../executors/load-module.js";
import { ThreadPool } from "../executors/worker-thread.js";
import type { CacheRequest, StepCache } from "./cache-port.js";
import type { RemoteExecutor } from "./remote-port.js";
import { EventBus, type Listener, type StepInfo } from "./events.js";
import type { RunResult, StepError, StepResult } from "./result.js";
import { backoffDelay, isRetryable } from "./retry.js";
import { ResultTable } from "./result-table.js";
import { Scheduler, State, type ScheduleMode, type StepMeta } from "./scheduler.js";
import { summarize } from "./summary.js";
import {
  InputError,
  projectOutputs,
  describe,
  evalAsync,
  evalSync,
  needsIO,
  toArgv,
  whyNotPlainData,
  type EvalEnv,
} from "./values.js";

export interface RunOptions {
  /** Slots for concurrently running steps (`-j`). Default: cores + 2, so I/O waits do not idle a core. */
  concurrency?: number;
  mode?: ScheduleMode;
  /** Stop starting new steps after the first failure. */
  failFast?: boolean;
  /** Aborting it cancels the run: running steps are stopped, finished results are kept. */
  signal?: AbortSignal;
  /** Steps to produce (with their ancestors); default the graph's outputs, else every sink. */
  outputs?: StepId[];
  /** Project root: relative file paths and process working directories start here. Default cwd. */
  root?: string;
  onEvent?: Listener | Listener[];
  /** Between SIGTERM and SIGKILL when a process step is stopped. Default 2000 ms. */
  killGraceMs?: number;
  /** Environment for process steps; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Learned duration of a step, used for its priority when it declares no estimate. */
  estimate?: (step: Step) => number | undefined;
  cache?: StepCache;
  /** Send steps to other machines instead of running them here (see src/executors/remote). */
  remote?: RemoteExecutor;
  /**
   * Stream step output as it happens (step-output events). Off by default: processes then start
   * through a small job shell, much faster than forking Node, and their output arrives at the end.
   */
  liveOutput?: boolean;
  /** "direct" forks every process from Node (the fallback where the job shell cannot be used). */
  spawn?: "auto" | "direct";
  /** The largest stdout kept as a process step's value. Default 8 MiB. */
  stdoutLimit?: number;
  /**
   * Cancel on SIGINT/SIGTERM for the duration of the run (the CLI sets it): the first signal stops
   * running steps gracefully, a second one kills their processes at once.
   */
  handleSignals?: boolean;
  /** Random source for retry jitter (tests pass a fixed one). */
  random?: () => number;
}

export { InvalidGraphError };

const DEFAULT_STDOUT_LIMIT = 8 * 1024 * 1024;
const NO_ARGS: unknown[] = [];

/** Runs a graph to completion and returns every step's outcome. Rejects only for an invalid graph. */
export async function runGraph(graph: Graph, options: RunOptions = {}): Promise<RunResult> {
  return new Run(graph, options).start();
}

/** The per-attempt context handed to in-process functions as `this`; its AbortController is lazy. */
class Attempt implements StepContext {
  private controller: AbortController | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly stepId: StepId,
    readonly attempt: number,
    readonly root: string,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  abort(reason: { kind: "timeout" | "cancelled" }): void {
    if (this.timer) clearTimeout(this.timer);
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  done(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

class Run {
  private readonly bus = new EventBus();
  private readonly steps: Step[];
  private readonly topology: Topology;
  private readonly scheduler: Scheduler;
  private readonly root: string;
  private readonly t0 = performance.now();
  private readonly table: ResultTable;
  /** Values of map steps as seen by `partial` consumers: `{ ok, failed }`. */
  private readonly partialValues = new Map<number, unknown>();
  private readonly live: (Attempt | undefined)[];
  private readonly mapItems = new Map<number, { first: number; count: number; items: unknown[] }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly needed: Uint8Array | undefined;
  private threads: ThreadPool | undefined;
  private processServer: ProcessServer | undefined;
  private pumping = false;
  private pumpNow = 0;
  private dirty = false;
  private cancelled = false;
  private failFastTripped = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private resolveRun!: (r: RunResult) => void;

  constructor(
    private readonly graph: Graph,
    private readonly options: RunOptions,
  ) {
    const concurrency = options.concurrency ?? availableParallelism() + 2;
    const { topology, errors } = validateGraph(graph, { concurrency });
    if (errors.length > 0) throw new InvalidGraphError(errors);
    this.topology = topology;
    this.steps = graph.steps.slice();
    this.root = resolve(options.root ?? process.cwd());
    const n = this.steps.length;
    const targets = (options.outputs ?? graph.outputs)?.map((id) => topology.index.get(id)!);
    // Without requested outputs every step is needed (every step is an ancestor of some sink).
    this.needed = targets ? ancestorsOf(topology, targets) : undefined;
    this.table = new ResultTable(n);
    this.live = new Array(n);
    for (const l of [options.onEvent ?? []].flat()) this.bus.on(l);
    const scratch = this.metaOf(
      this.steps[0] ?? { id: "", module: "", action: { kind: "process" }, inputs: [], options: {} },
    );
    this.scheduler = new Scheduler(topology, (i) => this.metaOf(this.steps[i]!, scratch), {
      concurrency,
      mode: options.mode,
      pools: graph.pools,
      limits: graph.limits,
      needed: this.needed,
    });
  }

  start(): Promise<RunResult> {
    return new Promise((resolveRun) => {
      this.resolveRun = resolveRun;
      if (this.bus.active) {
        this.bus.emit({
          type: "run-start",
          t: 0,
          steps: this.steps.filter((_, i) => !this.needed || this.needed[i]).map((s) => this.infoOf(s)),
          concurrency: this.scheduler.concurrency,
        });
      }
      if (this.options.handleSignals) this.installSignalHandlers();
      const signal = this.options.signal;
      if (signal) {
        if (signal.aborted) this.cancel();
        else signal.addEventListener("abort", () => this.cancel(), { once: true });
      }
      this.pump();
    });
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  /** Fills `into` when given, so 100k steps do not allocate 100k throwaway objects. */
  private metaOf(s: Step, into?: StepMeta): StepMeta {
    const m = into ?? ({} as StepMeta);
    const o = s.options;
    m.module = s.module;
    m.priority = o.priority ?? 0;
    m.cpus = o.cpus ?? 1;
    m.pool = o.pool;
    m.estimateMs = o.estimateMs ?? this.options.estimate?.(s) ?? 1;
    m.partial = o.partial === true;
    m.isMap = s.action.kind === "map";
    return m;
  }

  private infoOf(s: Step): StepInfo {
    return { id: s.id, module: s.module, estimateMs: s.options.estimateMs ?? this.options.estimate?.(s) };
  }

  /** Starts everything that can start. Re-entrant calls (a step finishing synchronously) just loop. */
  /** `at`: the time, when the caller just read the clock (a step's end is the next ones' start). */
  private pump(at?: number): void {
    if (this.pumping) {
      this.dirty = true;
      return;
    }
    this.pumping = true;
    const s = this.scheduler;
    do {
      this.dirty = false;
      // One clock read per batch: steps started together share a start time.
      const now = (this.pumpNow = at ?? this.now());
      at = undefined;
      for (let i = s.next(now); i >= 0; i = s.next(now)) this.launch(i);
    } while (this.dirty);
    this.pumping = false;
    if (s.remaining === 0 && s.running === 0) {
      this.finishRun();
      return;
    }
    if (!s.waitingForGates) return;
    const wake = s.wakeAt(this.now());
    if (wake !== Infinity && !this.wakeTimer) {
      this.wakeTimer = setTimeout(
        () => {
          this.wakeTimer = undefined;
          this.pump();
        },
        Math.max(1, wake - this.now()),
      );
    }
  }

  private launch(i: number): void {
    const step = this.steps[i]!;
    if (this.scheduler.isMapCollecting(i)) return this.collectMap(i);
    const attempt = ++this.table.attempts[i]!;
    this.table.startMs[i] = this.pumpNow;
    const action = step.action;
    const fn = this.runsInProcess(action) ? (action as { fn?: StepFn }).fn : undefined;
    if (fn && !this.options.cache && !step.inputs.some(needsIO)) {
      // The fast path for in-process functions: no awaits between the scheduler and the call.
      let args: unknown[];
      try {
        args = this.evalInputsSync(step);
      } catch (err) {
        return this.failAttempt(i, attempt, inputError(err));
      }
      this.callInProcess(i, step, attempt, fn, args);
      return;
    }
    void this.launchAsync(i, step, attempt);
  }

  private callInProcess(i: number, step: Step, attempt: number, fn: StepFn, args: unknown[]): void {
    const ctx = new Attempt(step.id, attempt, this.root);
    this.live[i] = ctx;
    if (this.bus.active) this.bus.emit({ type: "step-start", t: this.now(), id: step.id, attempt });
    let r: unknown;
    try {
      r = fn.apply(ctx, args);
    } catch (err) {
      ctx.done();
      return this.failAttempt(i, attempt, thrown(err));
    }
    if (r !== null && typeof (r as PromiseLike<unknown>)?.then === "function") {
      const timeoutMs = step.options.timeoutMs;
      if (timeoutMs !== undefined) {
        ctx.timer = setTimeout(() => {
          ctx.abort({ kind: "timeout" });
          this.failAttempt(i, attempt, { kind: "timeout", message: `timed out after ${timeoutMs}ms` });
        }, timeoutMs);
      }
      (r as PromiseLike<unknown>).then(
        (v) => {
          ctx.done();
          this.succeed(i, attempt, v);
        },
        (err) => {
          ctx.done();
          this.failAttempt(i, attempt, thrown(err));
        },
      );
    } else {
      this.succeed(i, attempt, r);
    }
  }

  private async launchAsync(i: number, step: Step, attempt: number): Promise<void> {
    const ctx = new Attempt(step.id, attempt, this.root);
    this.live[i] = ctx;
    let args: unknown[];
    try {
      args = step.inputs.some(needsIO) ? await this.evalInputsAsync(step) : this.evalInputsSync(step);
    } catch (err) {
      return this.failAttempt(i, attempt, inputError(err));
    }
    if (!this.isCurrent(i, attempt)) return;
    const action = step.action;
    if (action.kind === "map") return this.expandMap(i, step, args);

    let outputs: string[] = [];
    try {
      if (action.kind === "process") outputs = projectOutputs(step, this.root);
    } catch (err) {
      return this.failAttempt(i, attempt, inputError(err));
    }
    const cache = step.options.cache === false ? undefined : this.options.cache;
    const env = this.evalEnv(step);
    const request: CacheRequest = { step, args, outputs, root: this.root, valueOfStep: env.valueOf };
    let saveKey: string | undefined;
    if (cache) {
      try {
        const found = await cache.lookup(request);
        if (!this.isCurrent(i, attempt)) return;
        if (found.hit) return this.succeed(i, attempt, found.value, true);
        saveKey = found.key;
      } catch (err) {
        this.warn(`cache lookup failed for ${step.id}: ${(err as Error).message}; running it`, step.id);
      }
    }

    const timeoutMs = step.options.timeoutMs;
    if (timeoutMs !== undefined) {
      ctx.timer = setTimeout(() => ctx.abort({ kind: "timeout" }), timeoutMs);
    }
    let outcome: { ok: true; value: unknown } | { ok: false; error: StepError; tail?: string };
    const remote = this.options.remote;
    if (remote?.accepts(action)) {
      outcome = await this.runRemoteStep(i, step, attempt, args, outputs, ctx, remote);
    } else
      switch (action.kind) {
        case "process":
          outcome = await this.runProcessStep(i, step, attempt, args, outputs, ctx);
          break;
        case "function":
          if (action.thread) {
            outcome = await this.runThreadStep(step, attempt, args, ctx);
          } else {
            outcome = await this.runFunctionStep(step, attempt, args, ctx);
          }
          break;
      }
    ctx.done();
    if (!this.isCurrent(i, attempt)) return;
    if (!outcome.ok) {
      if (outcome.error.kind === "timeout") outcome.error.message = `timed out after ${timeoutMs}ms`;
      return this.failAttempt(i, attempt, outcome.error, outcome.tail);
    }
    if (cache && saveKey !== undefined) {
      // A function that returns nothing is fine; anything it does return must be plain data.
      const why = outcome.value === undefined ? undefined : whyNotPlainData(outcome.value);
      if (why) {
        return this.failAttempt(i, attempt, {
          kind: "value",
          message: `its value cannot be cached: ${why}; return plain data (JSON) or set cache: false`,
        });
      }
      try {
        await cache.save(saveKey, request, outcome.value);
      } catch (err) {
        this.warn(`could not save ${step.id} to the cache: ${(err as Error).message}`, step.id);
      }
      if (!this.isCurrent(i, attempt)) return;
    }
    this.succeed(i, attempt, outcome.value);
  }

  /** A function step this process runs itself (not in a thread, not on another machine). */
  private runsInProcess(action: Step["action"]): boolean {
    return action.kind === "function" && !action.thread && !this.options.remote?.accepts(action);
  }

  private async runFunctionStep(
    step: Step,
    attempt: number,
    args: unknown[],
    ctx: Attempt,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: StepError }> {
    const action = step.action as Extract<Step["action"], { kind: "function" }>;
    let fn = action.fn;
    if (!fn && action.ref) {
      // Named by file and export only (e.g. a graph built for remote workers): load it here.
      try {
        fn = (await loadFunction(action.ref.file, action.ref.exportName)) as StepFn;
      } catch (err) {
        return { ok: false, error: { kind: "infra", message: (err as Error).message } };
      }
    }
    if (!fn) return { ok: false, error: { kind: "infra", message: `step ${step.id} has no function` } };
    const call = fn;
    if (this.bus.active) this.bus.emit({ type: "step-start", t: this.now(), id: step.id, attempt });
    const aborted = new Promise<{ ok: false; error: StepError }>((res) => {
      ctx.signal.addEventListener("abort", () => res({ ok: false, error: abortError(ctx.signal.reason) }), {
        once: true,
      });
    });
    const settled = (async () => call.apply(ctx, args))().then(
      (value) => ({ ok: true as const, value }),
      (err) => ({ ok: false as const, error: thrown(err) }),
    );
    return Promise.race([settled, aborted]);
  }

  private async runThreadStep(
    step: Step,
    attempt: number,
    args: unknown[],
    ctx: Attempt,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: StepError }> {
    const action = step.action as Extract<Step["action"], { kind: "function" }>;
    if (!action.ref) {
      return {
        ok: false,
        error: { kind: "infra", message: `step ${step.id} is marked for a thread but names no module file` },
      };
    }
    this.threads ??= new ThreadPool(this.scheduler.concurrency);
    if (this.bus.active) this.bus.emit({ type: "step-start", t: this.now(), id: step.id, attempt });
    try {
      const value = await this.threads.run(
        {
          file: action.ref.file,
          exportName: action.ref.exportName,
          args,
          stepId: step.id,
          attempt,
          root: this.root,
        },
        ctx.signal,
      );
      return { ok: true, value };
    } catch (err) {
      if (ctx.signal.aborted) return { ok: false, error: abortError(ctx.signal.reason) };
      if ((err as Error)?.name === "DataCloneError") {
        return {
          ok: false,
          error: { kind: "value", message: `cannot send to a worker thread: ${(err as Error).message}` },
        };
      }
      return { ok: false, error: thrown(err) };
    }
  }

  private async runRemoteStep(
    i: number,
    step: Step,
    attempt: number,
    args: unknown[],
    outputs: string[],
    ctx: Attempt,
    remote: RemoteExecutor,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: StepError; tail?: string }> {
    const action = step.action as Exclude<Step["action"], { kind: "map" }>;
    const env: Record<string, string> = {};
    for (const name of step.options.env ?? []) {
      const v = (this.options.env ?? process.env)[name];
      if (v !== undefined) env[name] = v;
    }
    if (this.bus.active) this.bus.emit({ type: "step-start", t: this.now(), id: step.id, attempt });
    const id = step.id;
    const r = await remote.run(
      {
        stepId: id,
        attempt,
        module: step.module,
        action,
        args,
        outputs,
        timeoutMs: step.options.timeoutMs,
        priority: step.options.priority ?? 0,
        env,
      },
      ctx.signal,
      this.bus.active
        ? (stream, chunk) => this.bus.emit({ type: "step-output", t: this.now(), id, stream, chunk })
        : undefined,
    );
    if (action.kind === "process")
      this.table.commands[i] = action.shell ? ["sh", "-c", String(args[0])] : toArgv(args);
    if (!r.ok && r.tail !== undefined) this.table.tails[i] = r.tail;
    return r;
  }

  private async runProcessStep(
    i: number,
    step: Step,
    attempt: number,
    args: unknown[],
    outputs: string[],
    ctx: Attempt,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: StepError; tail?: string }> {
    const action = step.action as Extract<Step["action"], { kind: "process" }>;
    let argv: string[];
    try {
      argv = action.shell ? [args.map(String).join(" ")] : toArgv(args);
    } catch (err) {
      return { ok: false, error: inputError(err) };
    }
    const command = action.shell ? ["sh", "-c", argv[0]!] : argv;
    this.table.commands[i] = command;
    // Synchronous: a syscall or two, against a thread-pool hand-off per output (see cache/fs-ops.ts).
    for (const o of outputs) mkdirSync(dirname(resolve(this.root, o)), { recursive: true });
    if (this.bus.active) this.bus.emit({ type: "step-start", t: this.now(), id: step.id, attempt, command });
    const id = step.id;
    const spec: ProcessSpec = {
      argv,
      shell: action.shell,
      cwd: action.cwd ? resolve(this.root, action.cwd) : this.root,
      env: this.options.env ?? process.env,
      extraEnv: action.env,
      signal: ctx.signal,
      killGraceMs: this.options.killGraceMs,
      keepStdout: outputs.length === 0 ? (this.options.stdoutLimit ?? DEFAULT_STDOUT_LIMIT) : 0,
      onOutput:
        this.options.liveOutput && this.bus.active
          ? (stream, chunk) => this.bus.emit({ type: "step-output", t: this.now(), id, stream, chunk })
          : undefined,
    };
    const r =
      this.options.spawn !== "direct" && ProcessServer.accepts(spec)
        ? await (this.processServer ??= new ProcessServer(spec.env)).run(spec)
        : await runProcess(spec);
    this.table.tails[i] = r.tail;
    if (!r.ok) return { ok: false, error: r.error!, tail: r.tail };
    if (outputs.length === 0) return { ok: true, value: r.stdout.replace(/\n+$/, "") };
    const digest = this.options.cache?.digest?.bind(this.options.cache) ?? digestFile;
    const files: FileValue[] = [];
    for (const o of outputs) {
      try {
        files.push({ $file: o, digest: await digest(resolve(this.root, o)) });
      } catch {
        return {
          ok: false,
          error: { kind: "exit", message: `exited 0 but did not write its declared output ${o}` },
          tail: r.tail,
        };
      }
    }
    return { ok: true, value: files.length === 1 ? files[0] : files };
  }

  private expandMap(i: number, step: Step, args: unknown[]): void {
    const action = step.action as Extract<Step["action"], { kind: "map" }>;
    const list = args[0];
    if (!Array.isArray(list)) {
      return this.failAttempt(i, this.table.attempts[i]!, {
        kind: "input",
        message: `map needs a list, but got ${describe(list)}`,
      });
    }
    const extra = args.slice(1);
    const { partial: _partial, ...itemOptions } = step.options;
    const items: Step[] = list.map((item, k) => ({
      id: `${step.id}[${k}]`,
      module: action.module,
      action: action.item,
      inputs: [item, ...extra].map((value) => ({ kind: "lit" as const, value })),
      options: itemOptions,
      source: step.source,
    }));
    const added = this.scheduler.expand(
      i,
      items.map((s) => this.metaOf(s)),
    );
    this.live[i] = undefined;
    for (const s of items) this.steps.push(s);
    this.table.add(items.length);
    this.mapItems.set(i, { first: added[0] ?? this.steps.length, count: items.length, items: list });
    if (this.bus.active && items.length > 0) {
      this.bus.emit({
        type: "steps-added",
        t: this.now(),
        parent: step.id,
        steps: items.map((s) => this.infoOf(s)),
      });
    }
    this.pump();
  }

  private collectMap(i: number): void {
    const m = this.mapItems.get(i)!;
    const ok: unknown[] = [];
    const failed: { index: number; item: unknown; error: StepError | undefined; status: string }[] = [];
    const t = this.table;
    for (let k = 0; k < m.count; k++) {
      const j = m.first + k;
      const status = t.statusOf(j)!;
      if (status === "ok") ok.push(t.values[j]);
      else failed.push({ index: k, item: m.items[k], status, error: t.errorOf(j) });
    }
    this.partialValues.set(i, { ok, failed });
    t.startMs[i] = t.startMs[i] || this.now();
    if (failed.length === 0) return this.complete(i, "ok", { value: ok });
    // The list did not fail by itself: it is blocked by its first failed item (one bad item counts as
    // one failure in the summary), and its consumers are blocked by it unless they take partial results.
    const cause = this.steps[m.first + failed[0]!.index]!.id;
    this.complete(i, "failed", {
      error: { kind: "input", message: `blocked: ${failed.length} of ${m.count} items failed (${cause})` },
      blockedBy: cause,
    });
  }

  private evalEnv(step: Step): EvalEnv {
    const index = this.topology.index;
    const partial = step.options.partial === true;
    return {
      root: this.root,
      digest: this.options.cache?.digest?.bind(this.options.cache) ?? digestFile,
      valueOf: (id) => {
        const j = index.get(id)!;
        if (partial && this.partialValues.has(j)) return this.partialValues.get(j);
        return this.table.values[j];
      },
    };
  }

  private evalInputsSync(step: Step): unknown[] {
    const inputs = step.inputs;
    if (inputs.length === 0) return NO_ARGS;
    const out = new Array(inputs.length);
    let env: EvalEnv | undefined;
    for (let k = 0; k < inputs.length; k++) {
      const e = inputs[k]!;
      // Literals and plain references are the common case: skip building an environment for them.
      if (e.kind === "lit") out[k] = e.value;
      else if (e.kind === "ref" && !e.path && step.options.partial !== true) {
        out[k] = this.table.values[this.indexOf(e)];
      } else out[k] = evalSync(e, (env ??= this.evalEnv(step)));
    }
    return out;
  }

  /** Position of a referenced step: the producer's hint when it checks out, else a lookup by id. */
  private indexOf(e: Extract<ValueExpr, { kind: "ref" }>): number {
    const at = e.at;
    return at !== undefined && this.steps[at]?.id === e.step ? at : this.topology.index.get(e.step)!;
  }

  private evalInputsAsync(step: Step): Promise<unknown[]> {
    const env = this.evalEnv(step);
    return Promise.all(step.inputs.map((e) => evalAsync(e, env)));
  }

  private isCurrent(i: number, attempt: number): boolean {
    return this.table.attempts[i] === attempt && this.scheduler.state[i] === State.Running;
  }

  private succeed(i: number, attempt: number, value: unknown, cached = false): void {
    if (!this.isCurrent(i, attempt)) return;
    this.complete(i, "ok", { value, cached });
  }

  private failAttempt(i: number, attempt: number, error: StepError, tail?: string): void {
    if (!this.isCurrent(i, attempt)) return;
    const step = this.steps[i]!;
    const retries = step.options.retries ?? 0;
    if (isRetryable(error.kind) && attempt <= retries && !this.cancelled && !this.failFastTripped) {
      const delayMs = backoffDelay(step.options.backoff, attempt, this.options.random ?? Math.random);
      this.live[i] = undefined;
      this.scheduler.suspend(i);
      if (this.bus.active)
        this.bus.emit({
          type: "step-retry",
          t: this.now(),
          id: step.id,
          attempt,
          maxAttempts: retries + 1,
          delayMs,
          error,
        });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.scheduler.resume(i);
        this.pump();
      }, delayMs);
      this.timers.add(timer);
      this.pump();
      return;
    }
    if (tail !== undefined) this.table.tails[i] = tail;
    this.complete(i, error.kind === "cancelled" ? "cancelled" : "failed", { error });
  }

  private complete(
    i: number,
    outcome: "ok" | "failed" | "cancelled",
    r: { value?: unknown; error?: StepError; cached?: boolean; blockedBy?: StepId },
  ): void {
    const step = this.steps[i]!;
    this.live[i] = undefined;
    const endMs = this.now();
    if (r.blockedBy !== undefined) this.table.skip(i, "blocked", endMs, r.error!, r.blockedBy);
    else this.table.finish(i, outcome, endMs, r.value, r.error, r.cached);
    if (this.bus.active) this.bus.emit({ type: "step-end", t: endMs, result: this.table.result(i, step)! });
    const blocked = this.scheduler.finish(i, outcome);
    for (const b of blocked) this.record(b, "blocked", step.id);
    if (outcome === "failed" && this.options.failFast && !this.failFastTripped) {
      this.failFastTripped = true;
      for (const c of this.scheduler.cancelPending())
        this.record(c, "cancelled", undefined, `fail-fast: ${step.id} failed`);
    }
    this.pump(endMs);
  }

  /** Records a step that never ran: blocked by a failed ancestor, or cancelled. */
  private record(i: number, status: "blocked" | "cancelled", blockedBy?: StepId, why?: string): void {
    const error: StepError =
      blockedBy !== undefined
        ? { kind: "input", message: `blocked: ${blockedBy} failed` }
        : { kind: "cancelled", message: why ?? "cancelled" };
    const t = this.now();
    this.table.skip(i, status, t, error, blockedBy);
    if (this.bus.active)
      this.bus.emit({ type: "step-end", t, result: this.table.result(i, this.steps[i]!)! });
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const c of this.scheduler.cancelPending())
      this.record(c, "cancelled", undefined, "cancelled before it started");
    for (let i = 0; i < this.live.length; i++) {
      const a = this.live[i];
      if (!a) continue;
      a.abort({ kind: "cancelled" });
      // Processes and threads report back once they are really gone; an in-process promise cannot be
      // stopped, so it is marked cancelled now and its late result ignored.
      if (this.runsInProcess(this.steps[i]!.action))
        this.failAttempt(i, a.attempt, { kind: "cancelled", message: "cancelled while running" });
    }
    this.pump();
  }

  private removeSignalHandlers: (() => void) | undefined;

  private installSignalHandlers(): void {
    let count = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      count++;
      if (count === 1) {
        this.warn(`${sig}: stopping running steps (again to kill them at once)`);
        this.cancel();
      } else killAllProcessGroups();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    this.removeSignalHandlers = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
  }

  private warn(message: string, id?: StepId): void {
    if (this.bus.active) this.bus.emit({ type: "warning", t: this.now(), message, id });
  }

  private finishRun(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const t of this.timers) clearTimeout(t);
    this.removeSignalHandlers?.();
    this.processServer?.close();
    const steps: StepResult[] = [];
    let ok = true;
    for (let i = 0; i < this.steps.length; i++) {
      const r = this.table.result(i, this.steps[i]!);
      if (!r) continue;
      steps.push(r);
      if (r.status !== "ok") ok = false;
    }
    const summary = summarize(this.table, this.steps, this.topology, this.mapItems, this.now());
    const result = { ok, cancelled: this.cancelled, steps, summary } as RunResult;
    // Lazy: a record of 100k sink values costs more than the whole run of 100k no-op steps.
    let outputs: Record<StepId, unknown> | undefined;
    Object.defineProperty(result, "outputs", {
      enumerable: true,
      get: () => (outputs ??= this.outputValues()),
    });
    const done = (): void => {
      if (this.bus.active) this.bus.emit({ type: "run-end", t: this.now(), result });
      this.resolveRun(result);
    };
    if (this.threads) void this.threads.close().then(done, done);
    else done();
  }

  private outputValues(): Record<StepId, unknown> {
    const ids =
      this.options.outputs ?? this.graph.outputs ?? sinks(this.topology).map((i) => this.steps[i]!.id);
    const outputs: Record<StepId, unknown> = {};
    for (const id of ids) {
      const j = this.topology.index.get(id)!;
      if (this.table.statusOf(j) === "ok") outputs[id] = this.table.values[j];
    }
    return outputs;
  }
}

function thrown(err: unknown): StepError {
  if (err instanceof Error) {
    // Errors may say what kind of failure they are (a module's schema check says "value"), which
    // decides whether a retry could help.
    const kind = (err as { kind?: unknown }).kind;
    const known = kind === "value" || kind === "input" || kind === "infra" ? kind : "threw";
    return { kind: known, message: err.message || err.name, stack: err.stack };
  }
  let text: string;
  try {
    text = typeof err === "string" ? JSON.stringify(err) : (JSON.stringify(err) ?? String(err));
  } catch {
    text = describe(err);
  }
  return { kind: "threw", message: `threw a non-Error value: ${text}` };
}

function inputError(err: unknown): StepError {
  if (err instanceof InputError) return { kind: "input", message: err.message };
  return thrown(err);
}

function abortError(reason: unknown): StepError {
  return (reason as { kind?: string })?.kind === "timeout"
    ? { kind: "timeout", message: "timed out" }
    : { kind: "cancelled", message: "cancelled while running" };
}
