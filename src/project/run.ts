import { mkdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { writeFileAtomicSync } from "../cache/atomic-write.js";
import { dropSnapshot, writeSnapshot, type SnapshotKey } from "../cache/run-snapshot.js";
import { snapshotScope } from "../cache/snapshot-scope.js";
import type { EngineEvent, Listener } from "../engine/events.js";
import type { Executor } from "../engine/executor.js";
import type { RunResult } from "../engine/result.js";
import { runGraph } from "../engine/run.js";
import type { ScheduleMode } from "../engine/scheduler.js";
import { UserError } from "../engine/user-error.js";
import type { Graph, StepId } from "../graph/ir.js";
import type { ChromeTraceRecorder } from "../reporters/chrome-trace.js";
import { openProjectCache, type CacheSettings } from "./cache.js";
import { ownerToken } from "../executors/process/reaper.js";
import { closeExecutors, localExecutors, prepareExecutors } from "./executors.js";
import { DurationHistory } from "./history.js";
import type { RemoteSettings } from "./remote.js";
import { acquireRunLock } from "./run-lock.js";
import { newRunId, RunRecordWriter } from "./run-record.js";

export interface ProjectRunOptions {
  /** Slots for concurrently running steps (`-j`). Default: cores + 2. */
  concurrency?: number;
  mode?: ScheduleMode;
  /** Bytes of memory the steps that declare `memory:` share (`--memory`). Default: the machine's. */
  memory?: number;
  /** One step at a time in a deterministic order (`--serial`). */
  serial?: boolean;
  /** Start ready steps in an order drawn from this seed (`--shuffle=SEED`). */
  shuffleSeed?: number;
  /** Stop starting new steps after the first failure. */
  failFast?: boolean;
  /** Aborting it cancels the run: running steps are stopped, finished results are kept. */
  signal?: AbortSignal;
  /** Reporters: every event of the run (also the run-end of a no-op run). */
  onEvent?: Listener | Listener[];
  /** Stream step output as it happens (step-output events). */
  liveOutput?: boolean;
  /** Cancel on SIGINT/SIGTERM for the duration of the run (a command-line program sets it). */
  handleSignals?: boolean;
  /** Write a Chrome/Perfetto trace of the run to this file (checked before the run starts). */
  trace?: string;
  /**
   * Steps to produce (with their ancestors): the targets of `tributary run flow target…`. Default the
   * flow's outputs, else every sink. A name the flow does not have is a UserError naming the nearest.
   */
  outputs?: StepId[];
  /**
   * Globs of step ids to rerun whatever the cache holds (`--force`; `compile*`, `objs[*]`; a map's
   * pattern selects its items). Their fresh results replace the cached ones. A pattern that matches no
   * step is a UserError naming the nearest.
   */
  force?: string[];
  /**
   * Write the run record (`<stateDir>/runs/<runId>.jsonl`, read by `readRunRecord` and `tributary logs`),
   * as the command line does. Default false.
   */
  record?: boolean;
}

export interface ProjectRunResult extends RunResult {
  /** Nothing the last complete run depended on changed: every step was restored without running. */
  noOp: boolean;
  /** With a required remote cache: what failed on it (the run then counts as failed). */
  remoteProblems: string[];
  /**
   * The steps whose values a command line prints: the requested `outputs` (targets), else the ones the
   * flow declares with `out`.
   */
  declaredOutputs: StepId[];
}

/** What a run needs of its project. */
export interface RunContext {
  root: string;
  stateDir: string;
  graph: Graph;
  cache: CacheSettings | false;
  remote: RemoteSettings | undefined;
  env: NodeJS.ProcessEnv;
  spawn: "auto" | "direct" | undefined;
  /** Set for flow files: the run is recorded so that an unchanged next run is answered at once. */
  snapshotKey: SnapshotKey | undefined;
  /** The steps `--force` selects (see ProjectRunOptions.force). */
  force?: (stepId: StepId) => boolean;
  /** The flow file, relative to the root (run-start tells it); undefined for a graph. */
  flow?: string;
}

/**
 * A whole run of a project: the cache (local and remote) and the remote executor opened, the history of
 * durations consulted and updated, the run recorded for the next no-op answer, a trace written, and
 * everything closed again, also when the run fails.
 */
export async function runProject(ctx: RunContext, opts: ProjectRunOptions): Promise<ProjectRunResult> {
  const given = [opts.onEvent ?? []].flat();
  // Named from where the caller is; a trace that cannot be written is found out before the run.
  const traceFile = opts.trace === undefined ? undefined : resolve(opts.trace);
  if (traceFile !== undefined) writeTrace(traceFile, opts.trace!, undefined);
  mkdirSync(ctx.stateDir, { recursive: true });
  const token = ownerToken();
  const lock = acquireRunLock(ctx.stateDir, token, commandLabel());
  let record: RunRecordWriter | undefined;
  try {
    // Opened under the lock: it deletes the oldest records.
    if (opts.record) record = openRecord(ctx.stateDir, given);
    const all = record ? [...given, record.onEvent] : given;
    const listeners = all.length === 0 ? [] : [withRunFacts(all, ctx, opts, record?.runId)];
    // Warnings after the run ended (uploads to a remote cache finishing) go to the listeners too.
    const warn = (message: string) => {
      for (const l of listeners) l({ type: "warning", t: 0, message });
    };
    return await runLocked(ctx, opts, listeners, warn, traceFile, token);
  } finally {
    record?.close();
    lock.release();
  }
}

/** A record that cannot be written is a warning, not a failed build. */
function openRecord(stateDir: string, listeners: Listener[]): RunRecordWriter | undefined {
  try {
    return new RunRecordWriter(stateDir, newRunId());
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const message = `cannot write the run record in ${join(stateDir, "runs")} (${why}); running without one`;
    for (const l of listeners) l({ type: "warning", t: 0, message });
    return undefined;
  }
}

/** One listener for all: the engine's run-start gains what only the project knows. */
function withRunFacts(
  listeners: Listener[],
  ctx: RunContext,
  opts: ProjectRunOptions,
  runId: string | undefined,
): Listener {
  const facts = {
    runId: runId ?? newRunId(),
    flow: ctx.flow ?? null,
    startedAt: new Date().toISOString(),
    liveOutput: opts.liveOutput === true,
  };
  return (e) => {
    const out: EngineEvent = e.type === "run-start" ? { ...e, ...facts } : e;
    for (const l of listeners) {
      // One listener that throws (a reporter) must not keep the others (the record) from the event.
      try {
        l(out);
      } catch {
        /* ignored on purpose, as the engine's bus does */
      }
    }
  };
}

async function runLocked(
  ctx: RunContext,
  opts: ProjectRunOptions,
  listeners: Listener[],
  warn: (message: string) => void,
  traceFile: string | undefined,
  token: string,
): Promise<ProjectRunResult> {
  const local = localExecutors({ concurrency: opts.concurrency, spawn: ctx.spawn, ownerToken: token });
  let history: DurationHistory;
  let cache: Awaited<ReturnType<typeof openProjectCache>>;
  try {
    // Servers and pools start while the history and the cache load, each while the other waits on a file.
    prepareExecutors(local, ctx.graph, { ...opts, env: ctx.env });
    [history, cache] = await Promise.all([
      DurationHistory.load(join(ctx.stateDir, "history.json")),
      ctx.cache === false ? undefined : openProjectCache(ctx.root, ctx.cache, warn, ctx.env, ctx.force),
    ]);
  } catch (err) {
    // A cache that refuses to open (a required remote without one) leaves no prepared server running.
    await closeExecutors(local);
    throw err;
  }
  let remote: Executor | undefined;
  // Under make -jN (a recipe line `+tributary run ...`): each step beyond the first takes a token.
  // (Its module only when MAKEFLAGS can name one: every form has "jobserver" in it.)
  const slots = ctx.env.MAKEFLAGS?.includes("jobserver")
    ? (await import("../executors/process/jobserver-client.js")).openJobserverClient(ctx.env.MAKEFLAGS, warn)
    : undefined;
  // The run's end is told once the uploads are done, with what they came to in its summary.
  let runEnd: EngineEvent | undefined;
  const tellEnd = () => {
    const e = runEnd;
    runEnd = undefined;
    if (e) for (const l of listeners) l(e);
  };
  try {
    if (ctx.remote) {
      const { openRemoteExecutor } = await import("./remote.js");
      remote = await openRemoteExecutor(ctx.remote, ctx.root, cache?.transferOutputs, warn);
    }
    dropSnapshot(ctx.stateDir);
    const trace =
      traceFile === undefined
        ? undefined
        : new (await import("../reporters/chrome-trace.js")).ChromeTraceRecorder();
    const held: Listener[] =
      listeners.length === 0
        ? []
        : [(e) => (e.type === "run-end" ? (runEnd = e) : listeners.forEach((l) => l(e)))];
    const result = await runGraph(ctx.graph, {
      executors: remote ? [remote, ...local] : local,
      concurrency: opts.concurrency,
      failFast: opts.failFast,
      mode: opts.mode,
      memory: opts.memory,
      serial: opts.serial,
      shuffleSeed: opts.shuffleSeed,
      signal: opts.signal,
      outputs: opts.outputs,
      root: ctx.root,
      env: ctx.env,
      cache: cache?.stepCache,
      estimate: history.estimate,
      handleSignals: opts.handleSignals,
      liveOutput: opts.liveOutput,
      slots,
      onEvent: trace ? [...held, (e) => trace.onEvent(e)] : held,
    });
    if (trace) writeTrace(traceFile!, opts.trace!, trace);
    if (history.record(result.steps)) await history.save().catch(() => {});
    // Taken before anything is stat'ed for the record: a write after it is racy (see run-snapshot.ts).
    const statsFrom = cache && result.ok ? cache.stepCache.writeClock() : 0;
    // Flushes the cache and waits for uploads to a remote cache: the record and the outcome need both.
    await cache?.close(result.ok && !opts.outputs);
    const remoteProblems = cache?.remoteProblems() ?? [];
    const remoteCache = cache?.remoteSummary();
    if (remoteCache) result.summary.remoteCache = remoteCache;
    // A run whose required remote cache failed must not be skipped next time as a no-op.
    if (cache && ctx.snapshotKey && result.ok && remoteProblems.length === 0 && !opts.outputs) {
      const scope = snapshotScope(ctx.graph, ctx.root, (m) => cache.stepCache.codeFilesOf(m));
      // Flows whose work is not all described by data (see snapshotScope) get no record.
      if (!("reason" in scope)) {
        const outputs = ctx.graph.outputs?.length ? result.outputs : {};
        const local = cache.stepCache;
        writeSnapshot(
          ctx.stateDir,
          ctx.root,
          ctx.snapshotKey,
          scope,
          // With the items of maps: a no-op run reports every step it stands for.
          result.steps.map((s) => s.id),
          outputs,
          ctx.env,
          {
            statsFrom,
            confirms: (abs, st) => local.confirmsContent(abs, st),
            clock: () => local.writeClock(),
          },
        );
      }
    }
    const final = Object.assign(result, {
      noOp: false,
      remoteProblems,
      declaredOutputs: opts.outputs ?? ctx.graph.outputs ?? [],
      ok: result.ok && remoteProblems.length === 0,
    });
    tellEnd();
    return final;
  } finally {
    slots?.close();
    await cache?.close();
    tellEnd();
    await closeExecutors(remote ? [remote, ...local] : local);
  }
}

/** How the lock names this run to another one: the program and its arguments. */
function commandLabel(): string {
  return [basename(process.argv[1] ?? "node"), ...process.argv.slice(2)].join(" ").slice(0, 200);
}

/** Writes the trace (`undefined`: an empty one, to find out early that it can be written). */
function writeTrace(file: string, asGiven: string, recorder: ChromeTraceRecorder | undefined): void {
  const text = JSON.stringify(recorder ? recorder.trace() : { traceEvents: [], displayTimeUnit: "ms" });
  try {
    writeFileAtomicSync(file, `${text}\n`);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserError(`--trace: cannot write ${asGiven} (${why})`);
  }
}
