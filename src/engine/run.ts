import { availableParallelism, totalmem } from "node:os";
import { resolve } from "node:path";
import { digestFile } from "../graph/digest.js";
import { describe, evalAsync, evalSync, needsIO, projectOutputs, whyNotPlainData } from "../graph/eval.js";
import type { Graph, Step, StepId } from "../graph/ir.js";
import { ancestorsOf, collectRefs, sinks, type Topology } from "../graph/topology.js";
import { validateGraph, InvalidGraphError } from "../graph/validate.js";
import { AttemptContext, type AttemptSettings } from "./attempt.js";
import type { CacheLookup, CacheRequest, StepCache } from "./cache-port.js";
import { EventBus, type StepInfo } from "./events.js";
import type { Executor } from "./executor.js";
import { Inputs } from "./inputs.js";
import { collectItems, type MapItems } from "./map-items.js";
import { itemOutputs, itemSteps } from "../graph/item-template.js";
import { processModuleGates } from "./module-gates.js";
import { executorFailure, inputFailure, isRetryable, stoppedError, type Outcome } from "./outcome.js";
import { DEFAULT_KILL_GRACE_MS, type RunOptions } from "./run-options.js";
import type { RunResult, StepError, StepResult } from "./result.js";
import { ResultTable } from "./result-table.js";
import { backoffDelay } from "./retry.js";
import { Scheduler, State, type StepMeta } from "./scheduler.js";
import { onTerminationSignals } from "./signals.js";
import type { SlotSource, SlotToken } from "./slots.js";
import { summarize } from "./summary.js";

export type { RunOptions };
export { InvalidGraphError };

const DEFAULT_STDOUT_LIMIT = 8 * 1024 * 1024;

let machineFacts: { defaultConcurrency: number; memory: number } | undefined;

/**
 * The default slots and memory, read once per process: os.totalmem() reads /proc/meminfo, which cost a
 * served flow 20 µs per request when it was read per run.
 */
function machine(): { defaultConcurrency: number; memory: number } {
  return (machineFacts ??= { defaultConcurrency: availableParallelism() + 2, memory: totalmem() });
}

/** Runs a graph to completion and returns every step's outcome. Rejects only for an invalid graph. */
export async function runGraph(graph: Graph, options: RunOptions): Promise<RunResult> {
  return new Run(graph, options).start();
}

class Run {
  private readonly bus = new EventBus();
  private readonly steps: Step[];
  private readonly topology: Topology;
  private readonly scheduler: Scheduler;
  private readonly root: string;
  private readonly t0 = performance.now();
  private readonly table: ResultTable;
  private readonly settings: AttemptSettings;
  /** Values of map steps as seen by `partial` consumers: `{ ok, failed }`. */
  private readonly partialValues = new Map<number, unknown>();
  private readonly live: (AttemptContext | undefined)[];
  private readonly mapItems = new Map<number, MapItems>();
  private readonly inputs: Inputs;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly needed: Uint8Array | undefined;
  private readonly digest: (absPath: string) => Promise<string>;
  private pumping = false;
  private pumpNow = 0;
  private dirty = false;
  private cancelled = false;
  private finished = false;
  private failFastTripped = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private resolveRun!: (r: RunResult) => void;
  private removeSignalHandlers: (() => void) | undefined;
  /** Job slots shared with other programs (a make jobserver); see slots.ts for the accounting. */
  private readonly slots: SlotSource | undefined;
  /** Running steps that hold a job slot (the implicit one or a token). */
  private jobs = 0;
  private readonly holdingJob = new Set<number>();
  /** Tokens taken from the source: always at least jobs - 1 (the implicit slot covers one job). */
  private readonly tokens: SlotToken[] = [];
  /** Steps the scheduler started whose job slot has not arrived, in the order they were started. */
  private readonly waitingForSlot: number[] = [];
  private readonly slotArrived = (): void => {
    if (!this.finished) this.pump();
  };

  constructor(
    private readonly graph: Graph,
    private readonly options: RunOptions,
  ) {
    const concurrency = options.serial ? 1 : (options.concurrency ?? machine().defaultConcurrency);
    let topology = options.topology;
    if (!topology) {
      const checked = validateGraph(graph, { concurrency });
      if (checked.errors.length > 0) throw new InvalidGraphError(checked.errors);
      topology = checked.topology;
    }
    this.topology = topology;
    this.steps = graph.steps.slice();
    this.root = resolve(options.root ?? process.cwd());
    this.slots = options.slots;
    const n = this.steps.length;
    const targets = (options.outputs ?? graph.outputs)?.map((id) => topology.index.get(id)!);
    // Without requested outputs every step is needed (every step is an ancestor of some sink).
    this.needed = targets ? ancestorsOf(topology, targets) : undefined;
    this.table = new ResultTable(n);
    this.live = new Array(n);
    for (const l of [options.onEvent ?? []].flat()) this.bus.on(l);
    const cache = options.cache;
    this.digest = cache?.digest ? cache.digest.bind(cache) : digestFile;
    this.inputs = new Inputs(
      this.steps,
      topology,
      this.table.values,
      this.partialValues,
      this.root,
      this.digest,
    );
    this.settings = {
      root: this.root,
      env: options.env ?? process.env,
      killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      stdoutLimit: options.stdoutLimit ?? DEFAULT_STDOUT_LIMIT,
      digest: this.digest,
      warn: (message, id) => this.warn(message, id),
      abandoned: (ctx, outcome) => this.finishAttempt(ctx.slot, ctx, outcome, undefined),
    };
    const scratch = this.metaOf(
      this.steps[0] ?? { id: "", module: "", action: { kind: "process" }, inputs: [], options: {} },
    );
    this.scheduler = new Scheduler(topology, (i) => this.metaOf(this.steps[i]!, scratch), {
      concurrency,
      memory: options.memory ?? machine().memory,
      mode: options.mode,
      serial: options.serial,
      shuffleSeed: options.shuffleSeed,
      pools: graph.pools,
      limits: graph.limits,
      needed: this.needed,
      moduleGates: options.moduleGates ?? processModuleGates,
      clockOffset: this.t0,
      // Another run freed a module slot we wait for; we are called outside its pump.
      wake: () => {
        if (!this.finished) this.pump();
      },
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
      if (this.options.handleSignals) {
        this.removeSignalHandlers = onTerminationSignals(
          (sig) => {
            this.warn(`${sig}: stopping running steps (again to kill them at once)`);
            this.cancel();
          },
          () => {
            for (const e of this.options.executors) e.killNow?.();
          },
        );
      }
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
    m.memory = o.memory ?? 0;
    m.pool = o.pool;
    const estimate = o.estimateMs ?? this.options.estimate?.(s);
    m.estimateMs = estimate ?? 1;
    m.estimateKnown = estimate !== undefined;
    m.partial = o.partial === true;
    m.isMap = s.action.kind === "map";
    return m;
  }

  /** Only built when someone listens (run-start, steps-added). */
  private infoOf(s: Step): StepInfo {
    const refs: StepId[] = [];
    for (const e of s.inputs) collectRefs(e, refs);
    return {
      id: s.id,
      module: s.module,
      estimateMs: s.options.estimateMs ?? this.options.estimate?.(s),
      deps: [...new Set(refs)],
    };
  }

  /**
   * Starts everything that can start. Re-entrant calls (a step finishing synchronously) just loop.
   * `at`: the time, when the caller just read the clock (a step's end is the next ones' start).
   */
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
      if (this.slots === undefined) {
        for (let i = s.next(now); i >= 0; i = s.next(now)) this.launch(i);
      } else {
        this.startWaitingForSlot();
        for (let i = s.next(now); i >= 0; i = s.next(now)) {
          // A map's listing is bookkeeping, not work: only its items wait for a job slot.
          if (s.slotsOf(i) > 0 && this.steps[i]!.action.kind !== "map") this.launchWithSlot(i);
          else this.launch(i);
        }
      }
    } while (this.dirty);
    this.pumping = false;
    if (this.slots !== undefined) this.balanceSlots();
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

  /** Starts a step that takes CPU slots once it holds a job slot; until then it waits, not started. */
  private launchWithSlot(i: number): void {
    if (this.waitingForSlot.length === 0 && this.claimJob()) {
      this.holdingJob.add(i);
      this.launch(i);
    } else this.waitingForSlot.push(i);
  }

  private startWaitingForSlot(): void {
    const w = this.waitingForSlot;
    while (w.length > 0 && this.claimJob()) {
      const i = w.shift()!;
      this.holdingJob.add(i);
      this.launch(i);
    }
  }

  /** One more job slot: the implicit one when nothing runs, else a spare token or a new one. */
  private claimJob(): boolean {
    if (this.jobs > 0 && this.tokens.length < this.jobs) {
      const t = this.slots!.take();
      if (t === undefined) return false;
      this.tokens.push(t);
    }
    this.jobs++;
    return true;
  }

  /** Step i left the running state (ended, waits for a retry, or became a map that collects). */
  private jobEnded(i: number): void {
    if (this.slots !== undefined && this.holdingJob.delete(i)) this.jobs--;
  }

  /**
   * After a batch of starts: tokens nobody uses go back (kept across a batch, a step's end hands its
   * token to the next step without a round trip through the pipe), and the source learns how many
   * tokens the waiting steps need.
   */
  private balanceSlots(): void {
    const slots = this.slots!;
    const keep = Math.max(0, this.jobs - 1);
    while (this.tokens.length > keep) slots.give(this.tokens.pop()!);
    slots.want(this.waitingForSlot.length, this.slotArrived);
  }

  /** Steps waiting for a job slot are cancelled with the pending ones. */
  private cancelWaitingForSlot(why: string): void {
    for (const i of this.waitingForSlot.splice(0)) {
      this.record(i, "cancelled", undefined, why);
      const blocked = this.scheduler.finish(i, "cancelled", this.now());
      for (const b of blocked) this.record(b, "blocked", this.steps[i]!.id);
    }
  }

  /**
   * The one path every step takes: evaluate its inputs, ask the cache, hand it to the executor that
   * accepts it, settle the outcome. Synchronous as long as nothing needs I/O, so an in-process function
   * without a cache is called with no await between the scheduler and the call.
   */
  private launch(i: number): void {
    const step = this.steps[i]!;
    if (this.scheduler.isMapCollecting(i)) return this.collectMap(i);
    const attempt = ++this.table.attempts[i]!;
    this.table.startMs[i] = this.pumpNow;
    if (attempt === 1) this.table.queuedMs[i] = Math.max(0, this.pumpNow - this.scheduler.readyTime(i));
    const ctx = new AttemptContext(step, attempt, this.settings, i, this.scheduler.slotsOf(i));
    this.live[i] = ctx;
    if (step.action.kind === "map") return this.listMap(i, ctx);
    if (step.inputs.some(needsIO)) {
      this.inputs.async(step).then(
        (args) => this.prepare(i, ctx, args),
        (err) => this.settle(i, ctx, inputFailure(err)),
      );
      return;
    }
    let args: unknown[];
    try {
      args = this.inputs.sync(step);
    } catch (err) {
      return this.settle(i, ctx, inputFailure(err));
    }
    this.prepare(i, ctx, args);
  }

  private prepare(i: number, ctx: AttemptContext, args: unknown[]): void {
    if (!this.isCurrent(i, ctx)) return;
    const step = ctx.step;
    ctx.args = args;
    if (step.action.kind === "process") {
      try {
        ctx.outputs = projectOutputs(step, this.root);
      } catch (err) {
        return this.settle(i, ctx, inputFailure(err));
      }
    }
    const cache = step.options.cache === false ? undefined : this.options.cache;
    if (!cache) return this.execute(i, ctx, undefined);
    const request: CacheRequest = {
      step,
      args,
      outputs: ctx.outputs as string[],
      root: this.root,
      valueOfStep: this.inputs.env(step).valueOf,
    };
    cache.lookup(request).then(
      (found) => {
        if (!this.isCurrent(i, ctx)) return;
        if (this.bus.active) this.tellCache(step.id, cache, found);
        if (found.hit) return this.complete(i, "ok", found.value, undefined, true);
        this.execute(i, ctx, found.key === undefined ? undefined : { cache, key: found.key, request });
      },
      (err) => {
        const message = (err as Error).message;
        this.warn(`cache lookup failed for ${step.id}: ${message}; running it`, step.id);
        if (!this.isCurrent(i, ctx)) return;
        if (this.bus.active) {
          const reason = `the cache lookup failed: ${message}`;
          this.bus.emit({ type: "cache", t: this.now(), id: step.id, decision: "miss", reason });
        }
        this.execute(i, ctx, undefined);
      },
    );
  }

  /** The cache's decision, with its reason asked for only here: someone listens. */
  private tellCache(id: StepId, cache: StepCache, found: CacheLookup): void {
    const t = this.now();
    if (found.hit) {
      this.bus.emit({ type: "cache", t, id, decision: "hit", source: found.source ?? "local" });
      return;
    }
    const decision = found.key === undefined ? "uncacheable" : "miss";
    let reason: string | undefined;
    try {
      reason = cache.reasonOf?.(id);
    } catch {
      // The cache's records are unreadable: the lookup's own words will do.
    }
    reason ??= found.reason;
    this.bus.emit({ type: "cache", t, id, decision, reason });
  }

  private execute(i: number, ctx: AttemptContext, save: PendingSave | undefined): void {
    const step = ctx.step;
    if (ctx.stopped)
      return this.settle(i, ctx, { ok: false, error: stoppedError(ctx.stopped, "before it started") });
    const executor = this.executorFor(step);
    if (!executor) {
      return this.settle(i, ctx, {
        ok: false,
        error: { kind: "infra", message: `no executor runs ${step.action.kind} steps in this run` },
      });
    }
    if (executor.commandOf) {
      try {
        ctx.command = executor.commandOf(ctx);
      } catch (err) {
        return this.settle(i, ctx, inputFailure(err));
      }
      if (ctx.command) this.table.commands[i] = ctx.command as string[];
    }
    const id = step.id;
    if (this.bus.active) {
      this.bus.emit({
        type: "step-start",
        t: this.now(),
        id,
        attempt: ctx.attempt,
        command: ctx.command as string[],
      });
      if (this.options.liveOutput)
        ctx.onOutput = (stream, chunk) =>
          this.bus.emit({ type: "step-output", t: this.now(), id, stream, chunk });
    }
    const timeoutMs = step.options.timeoutMs;
    if (timeoutMs !== undefined) ctx.armTimeout(timeoutMs);
    let r: Outcome | PromiseLike<Outcome>;
    try {
      r = executor.run(ctx);
    } catch (err) {
      r = executorFailure(executor.name, err);
    }
    if (isThenable(r)) {
      r.then(
        (o) => this.finishAttempt(i, ctx, o, save),
        (err) => this.finishAttempt(i, ctx, executorFailure(executor.name, err), save),
      );
    } else this.finishAttempt(i, ctx, r, save);
  }

  private executorFor(step: Step): Executor | undefined {
    for (const e of this.options.executors) if (e.accepts(step.action)) return e;
    return undefined;
  }

  private finishAttempt(i: number, ctx: AttemptContext, o: Outcome, save: PendingSave | undefined): void {
    ctx.done();
    if (!this.isCurrent(i, ctx)) return;
    if (o.tail !== undefined) this.table.tails[i] = o.tail;
    // The common case (no cache, success) goes straight to complete: no second check, no object.
    if (o.ok && !save) return this.complete(i, "ok", o.value);
    if (!o.ok || !save) return this.settle(i, ctx, o);
    // A function that returns nothing is fine; anything it does return must be plain data.
    const why = o.value === undefined ? undefined : whyNotPlainData(o.value);
    if (why) {
      return this.settle(i, ctx, {
        ok: false,
        error: {
          kind: "value",
          message: `its value cannot be cached: ${why}; return plain data (JSON) or set cache: false`,
        },
      });
    }
    save.cache.save(save.key, save.request, o.value).then(
      () => this.settle(i, ctx, o),
      (err) => {
        this.warn(`could not save ${ctx.step.id} to the cache: ${(err as Error).message}`, ctx.step.id);
        this.settle(i, ctx, o);
      },
    );
  }

  /** The attempt's outcome, final or retried. */
  private settle(i: number, ctx: AttemptContext, o: Outcome): void {
    ctx.done();
    if (!this.isCurrent(i, ctx)) return;
    if (o.ok) return this.complete(i, "ok", o.value);
    const step = ctx.step;
    const error = o.error;
    const retries = step.options.retries ?? 0;
    if (isRetryable(error) && ctx.attempt <= retries && !this.cancelled && !this.failFastTripped) {
      const delayMs = backoffDelay(step.options.backoff, ctx.attempt, this.options.random ?? Math.random);
      this.live[i] = undefined;
      this.jobEnded(i);
      this.scheduler.suspend(i);
      if (this.bus.active)
        this.bus.emit({
          type: "step-retry",
          t: this.now(),
          id: step.id,
          attempt: ctx.attempt,
          maxAttempts: retries + 1,
          delayMs,
          error,
        });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.scheduler.resume(i, this.now());
        this.pump();
      }, delayMs);
      this.timers.add(timer);
      this.pump();
      return;
    }
    this.complete(i, error.kind === "cancelled" ? "cancelled" : "failed", undefined, error);
  }

  /** A map's own work: its list (only input 0: the others are its items' inputs, with the item in). */
  private listMap(i: number, ctx: AttemptContext): void {
    const step = ctx.step;
    const list = step.inputs[0]!;
    const env = this.inputs.env(step);
    const expand = (value: unknown): void => {
      if (this.isCurrent(i, ctx)) this.expandMap(i, step, value);
    };
    if (needsIO(list)) {
      evalAsync(list, env).then(expand, (err) => this.settle(i, ctx, inputFailure(err)));
      return;
    }
    let value: unknown;
    try {
      value = evalSync(list, env);
    } catch (err) {
      return this.settle(i, ctx, inputFailure(err));
    }
    expand(value);
  }

  private expandMap(i: number, step: Step, list: unknown): void {
    if (!Array.isArray(list)) {
      return this.complete(i, "failed", undefined, {
        kind: "input",
        message: `map needs a list, but got ${describe(list)}`,
      });
    }
    let items: Step[];
    try {
      items = itemSteps(step, list);
      // Known before any item starts: an item writing outside the project, or two writing one file.
      itemOutputs(items, this.root);
    } catch (err) {
      return this.complete(i, "failed", undefined, { kind: "input", message: (err as Error).message });
    }
    this.jobEnded(i);
    const added = this.scheduler.expand(
      i,
      items.map((s) => this.metaOf(s)),
      this.now(),
    );
    this.live[i] = undefined;
    for (const s of items) this.steps.push(s);
    this.table.add(items.length);
    const keys = items.map((s) => s.id.slice(step.id.length + 1, -1));
    this.mapItems.set(i, { first: added[0] ?? this.steps.length, count: items.length, items: list, keys });
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
    const t = this.table;
    const m = this.mapItems.get(i)!;
    const { ok, failed, cause } = collectItems(
      m,
      (j) => this.steps[j]!.id,
      (j) => t.statusOf(j),
      (j) => t.values[j],
      (j) => t.errorOf(j),
    );
    this.partialValues.set(i, { ok, failed });
    t.startMs[i] = t.startMs[i] || this.now();
    if (cause === undefined) return this.complete(i, "ok", ok);
    // The list did not fail by itself: it is blocked by its first failed item (one bad item counts as
    // one failure in the summary), and its consumers are blocked by it unless they take partial results.
    const error: StepError = {
      kind: "input",
      message: `blocked: ${failed.length} of ${m.count} items failed (${cause})`,
    };
    this.complete(i, "failed", undefined, error, false, cause);
  }

  private isCurrent(i: number, ctx: AttemptContext): boolean {
    return this.live[i] === ctx && this.scheduler.state[i] === State.Running;
  }

  /** Positional, not an options object: it runs once per step, and 100k steps would make 100k of them. */
  private complete(
    i: number,
    outcome: "ok" | "failed" | "cancelled",
    value: unknown,
    error?: StepError,
    cached?: boolean,
    blockedBy?: StepId,
  ): void {
    const step = this.steps[i]!;
    this.live[i] = undefined;
    const endMs = this.now();
    if (blockedBy !== undefined) this.table.skip(i, "blocked", endMs, error!, blockedBy);
    else this.table.finish(i, outcome, endMs, value, error, cached);
    this.jobEnded(i);
    if (this.bus.active) this.bus.emit({ type: "step-end", t: endMs, result: this.table.result(i, step)! });
    const blocked = this.scheduler.finish(i, outcome, endMs);
    for (const b of blocked) this.record(b, "blocked", step.id);
    if (outcome === "failed" && this.options.failFast && !this.failFastTripped) {
      this.failFastTripped = true;
      for (const c of this.scheduler.cancelPending())
        this.record(c, "cancelled", undefined, `fail-fast: ${step.id} failed`);
      this.cancelWaitingForSlot(`fail-fast: ${step.id} failed`);
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

  /** Stops everything: pending steps are cancelled, running ones stopped; each reports back when it is gone. */
  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const c of this.scheduler.cancelPending())
      this.record(c, "cancelled", undefined, "cancelled before it started");
    this.cancelWaitingForSlot("cancelled before it started");
    for (const a of this.live) a?.stop({ kind: "cancelled" });
    this.pump();
  }

  private warn(message: string, id?: StepId): void {
    if (this.bus.active) this.bus.emit({ type: "warning", t: this.now(), message, id });
  }

  private finishRun(): void {
    // A late wake-up from another run, or a pump after the end, must not report the run twice.
    if (this.finished) return;
    this.finished = true;
    this.scheduler.detach();
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const t of this.timers) clearTimeout(t);
    this.removeSignalHandlers?.();
    let ok = true;
    for (let i = 0; i < this.steps.length; i++) {
      const status = this.table.statusOf(i);
      if (status !== undefined && status !== "ok") ok = false;
    }
    const endMs = this.now();
    const result = { ok, cancelled: this.cancelled } as RunResult;
    // Built when first read: a record of 100k sink values costs more than the whole run of 100k no-op
    // steps, and a caller that runs a small flow thousands of times a second may read only its outputs.
    let outputs: Record<StepId, unknown> | undefined;
    let steps: StepResult[] | undefined;
    let summary: RunResult["summary"] | undefined;
    Object.defineProperties(result, {
      outputs: { enumerable: true, get: () => (outputs ??= this.outputValues()) },
      steps: { enumerable: true, get: () => (steps ??= this.stepResults()) },
      summary: {
        enumerable: true,
        get: () => (summary ??= summarize(this.table, this.steps, this.topology, this.mapItems, endMs)),
      },
    });
    if (this.bus.active) this.bus.emit({ type: "run-end", t: this.now(), result });
    this.resolveRun(result);
  }

  private stepResults(): StepResult[] {
    const steps: StepResult[] = [];
    for (let i = 0; i < this.steps.length; i++) {
      const r = this.table.result(i, this.steps[i]!);
      if (r) steps.push(r);
    }
    return steps;
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

interface PendingSave {
  cache: StepCache;
  key: string;
  request: CacheRequest;
}

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as PromiseLike<T>).then === "function";
}
