import type { RunSummary, StepError } from "../../engine/result.js";
import { errorHeadline, formatCommand } from "../format.js";

/**
 * One recorded event line, as the run record (`.tributary/runs/<runId>.jsonl`) and `run --json` hold
 * it: `v`, `type`, `t`, then the fields of its type. Anything may be missing or of the wrong type in a
 * damaged record, so every field is read defensively.
 */
export interface ReportEvent {
  v?: number;
  type: string;
  t: number;
  [field: string]: unknown;
}

export type ReportStatus = "ok" | "cached" | "failed" | "blocked" | "cancelled" | "running" | "not run";

export interface ReportStep {
  id: string;
  module: string;
  status: ReportStatus;
  /** The step ids it depends on (the graph's edges). */
  deps: string[];
  /** For a map item: the map it belongs to. */
  parent?: string;
  /** The command line as a shell would show it (process steps). */
  command?: string;
  estimateMs?: number;
  startMs?: number;
  endMs?: number;
  durationMs?: number;
  attempts: number;
  queuedMs?: number;
  cache?: { decision: string; source?: string; reason?: string };
  /** The reason it failed, in the words the terminal summary uses. */
  error?: string;
  errorKind?: string;
  exitCode?: number;
  signal?: string;
  blockedBy?: string;
  /** Retries: why each earlier attempt failed. */
  retries?: string[];
  /** The last bytes of each stream (text; the page shows it as text, never as markup). */
  stdout?: string;
  stderr?: string;
  /** Interleaved output tail, when the record has no per-stream output for the step. */
  output?: string;
  /** Bytes of output not kept: before the tail here, and what the record itself dropped. */
  outputCut?: number;
}

/** One attempt of one step on the slot it ran in. */
export interface ReportBar {
  /** Index into `steps`. */
  step: number;
  slot: number;
  start: number;
  end: number;
  attempt: number;
  outcome: "ok" | "failed" | "retry" | "cancelled" | "interrupted" | "running";
}

/** The run's counts as the summary gives them, and what only the report knows. */
export interface ReportTotals extends Pick<
  RunSummary,
  "total" | "ok" | "cached" | "failed" | "blocked" | "cancelled"
> {
  /** Steps with no final state in the record (an incomplete run). */
  unfinished: number;
  wallMs: number;
  /** Sum of the durations of every attempt that ran (retries too): the slot time the run used. */
  workMs: number;
  /** workMs / wallMs: how many slots were busy on average. */
  parallelism: number;
  /** Cache hits over the steps the cache was consulted for and could answer (hits + misses). */
  cacheHits: number;
  cacheMisses: number;
  cacheHitRate?: number;
  criticalPathMs?: number;
  criticalPath: string[];
}

export interface ReportModel {
  version: 1;
  runId?: string;
  flow?: string;
  startedAt?: string;
  concurrency?: number;
  /** False when the run streamed no step output (only failures' tails are known). */
  liveOutput?: boolean;
  /** The record has its run-end and every line was readable. */
  complete: boolean;
  /** Why the report is incomplete or what was skipped, for the banner. */
  problems: string[];
  ok?: boolean;
  steps: ReportStep[];
  bars: ReportBar[];
  slots: number;
  totals: ReportTotals;
  warnings: string[];
}

export interface ReportModelOptions {
  runId?: string;
  /** False when the reader skipped damaged lines or the run has no run-end. */
  complete?: boolean;
  /** Characters of output kept per stream per step (default 4096; failed steps get 4×). */
  tailChars?: number;
  /** Characters of output kept for the whole report (default 4 MiB); failed steps are served first. */
  totalOutputChars?: number;
}

const STATUSES = new Set(["ok", "failed", "blocked", "cancelled"]);

/** Times to the microsecond: finer digits say nothing and would make a large report larger. */
const ms = (v: number): number => Math.round(v * 1000) / 1000;
const msOf = (v: unknown): number | undefined => {
  const n = num(v);
  return n === undefined ? undefined : ms(n);
};
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

interface Tail {
  text: string;
  cut: number;
}

/**
 * The report of a run from its recorded events: every step with its final state and timings, each
 * attempt on the slot it ran in (the lowest free slot when it started, as `--trace` draws it), and the
 * run's totals. Pure: the same events give the same model, whatever state the record is in.
 */
export function buildReportModel(events: readonly ReportEvent[], opts: ReportModelOptions = {}): ReportModel {
  const builder = new ReportModelBuilder(opts);
  for (const e of events) builder.add(e);
  return builder.finish();
}

/**
 * Builds the model as the events come, keeping only what the report shows (a bounded tail of each
 * step's output), so a run can be reported without holding its events or reading its record back.
 * Takes the record's JSON lines or the engine's own events alike (a step-end's result flat or nested).
 */
export class ReportModelBuilder {
  readonly add: (e: ReportEvent) => void;
  /** The model of what was added; events added after it are ignored. */
  readonly finish: () => ReportModel;

  constructor(opts: ReportModelOptions = {}) {
    const [add, finish] = builder(opts);
    let done: ReportModel | undefined;
    this.add = (e) => {
      if (!done) add(e);
    };
    this.finish = () => (done ??= finish());
  }
}

function builder(opts: ReportModelOptions): [(e: ReportEvent) => void, () => ReportModel] {
  const tailChars = opts.tailChars ?? 4096;
  const steps: ReportStep[] = [];
  const index = new Map<string, number>();
  const problems: string[] = [];
  const warnings: string[] = [];
  const bars: ReportBar[] = [];
  const slots: (number | undefined)[] = [];
  const openBar = new Map<number, number>();
  const tails = new Map<number, { stdout?: Tail; stderr?: Tail }>();
  const recordCut = new Map<number, number>();
  const model: ReportModel = {
    version: 1,
    runId: opts.runId,
    complete: opts.complete !== false,
    problems,
    steps,
    bars,
    slots: 0,
    totals: emptyTotals(),
    warnings,
  };
  let lastT = 0;
  let summary: Record<string, unknown> | undefined;
  let cacheHits = 0;
  let cacheMisses = 0;
  let stepEnds = 0;

  const stepOf = (id: string, module = "?"): number => {
    let i = index.get(id);
    if (i === undefined) {
      i = steps.push(newStep(id, module)) - 1;
      index.set(id, i);
    }
    return i;
  };
  const declare = (raw: unknown, parent?: string): void => {
    if (!Array.isArray(raw)) return;
    for (const s of raw as Record<string, unknown>[]) {
      const id = str(s?.id);
      if (id === undefined) continue;
      const step = steps[stepOf(id, str(s.module))]!;
      step.module = str(s.module) ?? step.module;
      if (Array.isArray(s.deps)) {
        const deps = s.deps as unknown[];
        step.deps = deps.every((d) => typeof d === "string") ? (deps as string[]) : deps.filter(isString);
      }
      if (parent !== undefined) step.parent = parent;
      step.estimateMs = num(s.estimateMs) ?? step.estimateMs;
      const command = commandText(s.command);
      if (command !== undefined) step.command = command;
    }
  };
  const closeBar = (i: number, t: number, outcome: ReportBar["outcome"]): void => {
    const b = openBar.get(i);
    if (b === undefined) return;
    openBar.delete(i);
    const bar = bars[b]!;
    bar.end = Math.max(bar.start, t);
    bar.outcome = outcome;
    slots[bar.slot] = undefined;
  };

  // Thousands of steps in a row often get the same decision ("uncacheable: …"): they share one object.
  let lastDecision: NonNullable<ReportStep["cache"]> | undefined;
  const cacheDecision = (decision: string, source?: string, reason?: string) => {
    const d = lastDecision;
    if (d && d.decision === decision && d.source === source && d.reason === reason) return d;
    return (lastDecision = { decision, source, reason });
  };

  const add = (e: ReportEvent): void => {
    if (e === null || typeof e !== "object") return;
    const t = msOf(e.t) ?? lastT;
    lastT = Math.max(lastT, t);
    switch (e.type) {
      case "run-start":
        model.runId ??= str(e.runId);
        model.flow = str(e.flow);
        model.startedAt = str(e.startedAt);
        model.concurrency = num(e.concurrency);
        if (typeof e.liveOutput === "boolean") model.liveOutput = e.liveOutput;
        declare(e.steps);
        break;
      case "steps-added":
        declare(e.steps, str(e.parent));
        break;
      case "cache": {
        const id = str(e.id);
        const decision = str(e.decision);
        if (id === undefined || decision === undefined) break;
        steps[stepOf(id)]!.cache = cacheDecision(decision, str(e.source), str(e.reason));
        if (decision === "hit") cacheHits++;
        else if (decision === "miss") cacheMisses++;
        break;
      }
      case "step-start": {
        const id = str(e.id);
        if (id === undefined) break;
        const i = stepOf(id);
        closeBar(i, t, "interrupted");
        const step = steps[i]!;
        step.status = "running";
        step.attempts = Math.max(step.attempts, num(e.attempt) ?? step.attempts + 1);
        const command = commandText(e.command);
        if (command !== undefined) step.command = command;
        let slot = slots.indexOf(undefined);
        if (slot < 0) slot = slots.push(undefined) - 1;
        slots[slot] = i;
        model.slots = Math.max(model.slots, slots.length);
        openBar.set(
          i,
          bars.push({ step: i, slot, start: t, end: t, attempt: step.attempts, outcome: "running" }) - 1,
        );
        break;
      }
      case "step-retry": {
        const id = str(e.id);
        if (id === undefined) break;
        const i = stepOf(id);
        closeBar(i, t, "retry");
        const err = errorText(e.error);
        (steps[i]!.retries ??= []).push(`attempt ${num(e.attempt) ?? "?"}: ${err?.text ?? "failed"}`);
        break;
      }
      case "step-output": {
        const id = str(e.id);
        const chunk = str(e.chunk);
        const stream = e.stream === "stderr" ? "stderr" : "stdout";
        if (id === undefined || chunk === undefined) break;
        const i = stepOf(id);
        let tail = tails.get(i);
        if (!tail) tails.set(i, (tail = {}));
        const cur = (tail[stream] ??= { text: "", cut: 0 });
        cur.text += chunk;
        // Keep a little more than needed so a failed step can still get its larger share at the end.
        if (cur.text.length > tailChars * 8) {
          const drop = cur.text.length - tailChars * 4;
          cur.cut += drop;
          cur.text = cur.text.slice(drop);
        }
        break;
      }
      case "step-output-truncated": {
        const id = str(e.id);
        if (id === undefined) break;
        const i = stepOf(id);
        recordCut.set(i, (recordCut.get(i) ?? 0) + (num(e.droppedBytes) ?? 0));
        break;
      }
      case "step-end": {
        // The record writes a step's result flat on the event; accept it nested as `result` too.
        const r = (typeof e.result === "object" && e.result !== null ? e.result : e) as Record<
          string,
          unknown
        >;
        const id = str(r.id);
        if (id === undefined) break;
        stepEnds++;
        const i = stepOf(id, str(r.module));
        const step = steps[i]!;
        const status = str(r.status);
        const cached = r.cached === true;
        step.status = cached
          ? "cached"
          : status && STATUSES.has(status)
            ? (status as ReportStatus)
            : "failed";
        step.module = str(r.module) ?? step.module;
        step.attempts = num(r.attempts) ?? step.attempts;
        step.startMs = msOf(r.startMs);
        step.endMs = msOf(r.endMs);
        step.durationMs =
          !cached && step.startMs !== undefined && step.endMs !== undefined
            ? ms(Math.max(0, step.endMs - step.startMs))
            : undefined;
        step.queuedMs = msOf(r.queuedMs);
        const command = commandText(r.command);
        if (command !== undefined) step.command = command;
        step.blockedBy = str(r.blockedBy);
        const err = step.status === "blocked" ? undefined : errorText(r.error);
        if (err) {
          step.error = err.text;
          step.errorKind = err.kind;
          step.exitCode = err.exitCode;
          step.signal = err.signal;
        }
        const outputTail = str(r.outputTail);
        if (outputTail !== undefined && outputTail !== "") step.output = outputTail;
        closeBar(i, t, step.status === "ok" ? "ok" : step.status === "cancelled" ? "cancelled" : "failed");
        break;
      }
      case "warning": {
        const message = str(e.message);
        if (message !== undefined) warnings.push(e.id ? `${str(e.id)}: ${message}` : message);
        break;
      }
      case "run-end": {
        const result = (typeof e.result === "object" && e.result !== null ? e.result : e) as Record<
          string,
          unknown
        >;
        model.ok = result.ok === true;
        if (typeof result.summary === "object" && result.summary !== null) {
          summary = result.summary as Record<string, unknown>;
        }
        const dropped = num(e.droppedOutputBytes);
        if (dropped)
          problems.push(`${dropped} bytes of step output were not recorded (the record's size limit)`);
        break;
      }
      default:
        break;
    }
  };

  const finish = (): ReportModel => {
    if (!summary) {
      model.complete = false;
      problems.unshift(
        "the run did not finish (its record has no run-end): it was killed or is still running",
      );
    } else if (opts.complete === false) {
      problems.unshift("some lines of the record could not be read and were skipped");
    } else if (stepEnds === 0 && steps.length > 0 && num(summary.cached) === steps.length) {
      // A run answered from the last one (nothing it depends on changed) records only its start and end.
      for (const step of steps) step.status = "cached";
      problems.push(
        "nothing changed since the last complete run: every step's result was restored without starting the engine, so this run has no timings",
      );
    }
    for (const i of openBar.keys()) closeBar(i, lastT, "running");
    for (const step of steps) {
      if (step.status === "running") step.durationMs = undefined;
    }
    fillTails(steps, tails, recordCut, tailChars, opts.totalOutputChars ?? 4 * 1024 * 1024);
    model.totals = totalsOf(steps, bars, summary, lastT, cacheHits, cacheMisses);
    return model;
  };
  return [add, finish];
}

const isString = (v: unknown): v is string => typeof v === "string";

/** Every field from the start: steps share one shape however their events arrive. */
function newStep(id: string, module: string): ReportStep {
  return {
    id,
    module,
    status: "not run",
    deps: [],
    parent: undefined,
    command: undefined,
    estimateMs: undefined,
    startMs: undefined,
    endMs: undefined,
    durationMs: undefined,
    attempts: 0,
    queuedMs: undefined,
    cache: undefined,
    error: undefined,
    errorKind: undefined,
    exitCode: undefined,
    signal: undefined,
    blockedBy: undefined,
    retries: undefined,
    stdout: undefined,
    stderr: undefined,
    output: undefined,
    outputCut: undefined,
  };
}

function emptyTotals(): ReportTotals {
  return {
    total: 0,
    ok: 0,
    cached: 0,
    failed: 0,
    blocked: 0,
    cancelled: 0,
    unfinished: 0,
    wallMs: 0,
    workMs: 0,
    parallelism: 0,
    cacheHits: 0,
    cacheMisses: 0,
    criticalPath: [],
  };
}

function commandText(raw: unknown): string | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  return formatCommand(raw.map((w) => String(w)));
}

function errorText(
  raw: unknown,
): { text: string; kind?: string; exitCode?: number; signal?: string } | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const error: StepError = {
    kind: (str(o.kind) ?? "threw") as StepError["kind"],
    message: str(o.message) ?? "",
    exitCode: num(o.exitCode),
    signal: str(o.signal),
  };
  return { text: errorHeadline(error), kind: str(o.kind), exitCode: error.exitCode, signal: error.signal };
}

/**
 * Puts the output tails on the steps within the report's budget: failed steps first (they are what a
 * reader looks for), each stream cut to its last characters.
 */
function fillTails(
  steps: ReportStep[],
  tails: Map<number, { stdout?: Tail; stderr?: Tail }>,
  recordCut: Map<number, number>,
  tailChars: number,
  budget: number,
): void {
  const order = [...tails.keys()].sort((a, b) => rank(steps[a]!) - rank(steps[b]!) || a - b);
  let left = budget;
  for (const i of order) {
    const step = steps[i]!;
    const t = tails.get(i)!;
    const want = rank(step) === 0 ? tailChars * 4 : tailChars;
    let cut = recordCut.get(i) ?? 0;
    for (const stream of ["stderr", "stdout"] as const) {
      const tail = t[stream];
      if (!tail) continue;
      const keep = Math.max(0, Math.min(want, left, tail.text.length));
      step[stream] = tail.text.slice(tail.text.length - keep);
      cut += tail.cut + tail.text.length - keep;
      left -= keep;
    }
    // Per-stream tails say more than the interleaved one; keep that only for steps without them.
    step.output = undefined;
    if (cut > 0) step.outputCut = cut;
  }
  for (const [i, cut] of recordCut) {
    if (!tails.has(i) && cut > 0) steps[i]!.outputCut = cut;
  }
}

function rank(step: ReportStep): number {
  return step.status === "failed" || step.status === "cancelled" ? 0 : 1;
}

function totalsOf(
  steps: ReportStep[],
  bars: ReportBar[],
  summary: Record<string, unknown> | undefined,
  lastT: number,
  cacheHits: number,
  cacheMisses: number,
): ReportTotals {
  const totals = emptyTotals();
  for (const s of steps) {
    totals.total++;
    if (s.status === "running" || s.status === "not run") totals.unfinished++;
    else totals[s.status]++;
  }
  let work = 0;
  for (const b of bars) work += b.end - b.start;
  totals.wallMs = num(summary?.wallMs) ?? lastT;
  // Every attempt's time on its slot, retries too (the engine's workMs counts each step's last attempt).
  totals.workMs = bars.length > 0 ? ms(work) : (num(summary?.workMs) ?? 0);
  totals.parallelism = totals.wallMs > 0 ? totals.workMs / totals.wallMs : 0;
  totals.cacheHits = cacheHits;
  totals.cacheMisses = cacheMisses;
  if (cacheHits + cacheMisses > 0) totals.cacheHitRate = cacheHits / (cacheHits + cacheMisses);
  else if (totals.cached > 0) totals.cacheHitRate = totals.cached / Math.max(1, totals.total);
  totals.criticalPathMs = num(summary?.criticalPathMs);
  if (Array.isArray(summary?.criticalPath)) {
    totals.criticalPath = summary.criticalPath.filter((id): id is string => typeof id === "string");
  }
  return totals;
}
