import type { EngineEvent } from "../engine/events.js";
import type { StepResult } from "../engine/result.js";
import type { StepId } from "../graph/ir.js";

export interface RunningStep {
  id: StepId;
  /** Run time (ms since the run started) the current attempt began. */
  since: number;
  attempt: number;
  command?: string[];
}

export interface Counts {
  ok: number;
  cached: number;
  failed: number;
  blocked: number;
  cancelled: number;
}

/** No ETA in a run's first second (unless every step left has an estimate of its own). */
export const ETA_GRACE_MS = 1000;
/** Measured steps an ETA must rest on (unless every step left has an estimate of its own). */
export const ETA_MIN_MEASURED = 3;
/** An ETA shorter than this is not shown: the run is about to end. */
export const ETA_MIN_SHOWN_MS = 500;

/** Pending work and measured durations of one module. */
interface ModuleWork {
  /** Steps not yet finished: the sum of their declared estimates, how many have one, how many not. */
  estimatedMs: number;
  estimated: number;
  unknown: number;
  /** Durations of this module's steps that really ran. */
  measuredMs: number;
  measured: number;
}

/**
 * What a progress display needs to know, kept up to date from the events in O(1) per event (plus
 * O(running + modules) for the ETA), so that it stays cheap on runs with 100k steps.
 */
export class Progress {
  total = 0;
  done = 0;
  concurrency = 1;
  readonly counts: Counts = { ok: 0, cached: 0, failed: 0, blocked: 0, cancelled: 0 };
  /** Steps running now, in the order they started. */
  readonly running = new Map<StepId, RunningStep>();
  /** Steps waiting to retry: the run time their next attempt is due. */
  readonly retrying = new Map<StepId, number>();
  /** The last run time seen in an event. */
  lastT = 0;

  private readonly steps = new Map<StepId, { module: string; estimateMs?: number }>();
  private readonly finished = new Set<StepId>();
  /** Map parents: they do no work of their own (their items do), so they do not count for the ETA. */
  private readonly groups = new Set<StepId>();
  private readonly modules = new Map<string, ModuleWork>();
  private pending = 0;
  private measuredMs = 0;
  private measured = 0;

  update(e: EngineEvent): void {
    this.lastT = Math.max(this.lastT, e.t);
    switch (e.type) {
      case "run-start":
        this.concurrency = Math.max(1, e.concurrency);
        this.addSteps(e.steps);
        break;
      case "steps-added":
        if (!this.finished.has(e.parent) && !this.groups.has(e.parent)) this.forget(e.parent);
        this.groups.add(e.parent);
        this.addSteps(e.steps);
        break;
      case "step-start":
        this.retrying.delete(e.id);
        this.running.delete(e.id);
        this.running.set(e.id, { id: e.id, since: e.t, attempt: e.attempt, command: e.command });
        break;
      case "step-retry":
        this.running.delete(e.id);
        this.retrying.set(e.id, e.t + e.delayMs);
        break;
      case "step-end":
        this.finish(e.result);
        break;
      default:
        break;
    }
  }

  get left(): number {
    return Math.max(0, this.total - this.done);
  }

  /**
   * Expected time to finish: the work of the steps not yet done, minus what the running ones have
   * already spent, spread over the slots. A step's expected duration is the average of its module's
   * steps that already ran, else its declared estimate, else the average of every step that ran.
   * The events carry no dependencies, so a long chain is not known to be one: this is a lower bound.
   * Undefined when nothing is known yet, or when every step left has overrun what was expected.
   */
  etaMs(now: number = this.lastT): number | undefined {
    if (this.pending === 0) return 0;
    const overall = this.measured > 0 ? this.measuredMs / this.measured : undefined;
    let work = 0;
    for (const m of this.modules.values()) {
      if (m.estimated + m.unknown === 0) continue;
      if (m.measured > 0) work += (m.estimated + m.unknown) * (m.measuredMs / m.measured);
      else {
        if (m.unknown > 0 && overall === undefined) return undefined;
        work += m.estimatedMs + m.unknown * (overall ?? 0);
      }
    }
    for (const r of this.running.values()) {
      const expected = this.expectedMs(r.id, overall);
      work -= Math.min(Math.max(0, now - r.since), expected);
    }
    if (work <= 0) return undefined;
    return work / Math.min(this.concurrency, this.pending);
  }

  /**
   * The ETA worth showing, or none. A short run ends before any estimate means anything, and an ETA
   * that rests on one measured step swings wildly: so none in the run's first second, none from fewer
   * than {@link ETA_MIN_MEASURED} measured steps, unless every step left has its own estimate (declared,
   * or from the durations of earlier runs), and none under half a second, where it would only flicker.
   */
  shownEtaMs(now: number = this.lastT): number | undefined {
    if (this.pending === 0) return undefined;
    const estimatedAll = this.unknownLeft() === 0;
    if (!estimatedAll && (now < ETA_GRACE_MS || this.measured < ETA_MIN_MEASURED)) return undefined;
    const eta = this.etaMs(now);
    return eta !== undefined && eta >= ETA_MIN_SHOWN_MS ? eta : undefined;
  }

  /** Steps left with no estimate of their own (declared, or from earlier runs). */
  private unknownLeft(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.unknown;
    return n;
  }

  private expectedMs(id: StepId, overall: number | undefined): number {
    const s = this.steps.get(id);
    if (!s) return 0;
    const m = this.modules.get(s.module);
    if (m && m.measured > 0) return m.measuredMs / m.measured;
    return s.estimateMs ?? overall ?? 0;
  }

  private moduleOf(name: string): ModuleWork {
    let m = this.modules.get(name);
    if (!m) {
      m = { estimatedMs: 0, estimated: 0, unknown: 0, measuredMs: 0, measured: 0 };
      this.modules.set(name, m);
    }
    return m;
  }

  private addSteps(steps: { id: StepId; module: string; estimateMs?: number }[]): void {
    for (const s of steps) {
      if (this.steps.has(s.id)) continue;
      this.total++;
      this.pending++;
      const est = s.estimateMs !== undefined && Number.isFinite(s.estimateMs) ? s.estimateMs : undefined;
      this.steps.set(s.id, { module: s.module, estimateMs: est });
      const m = this.moduleOf(s.module);
      if (est === undefined) m.unknown++;
      else {
        m.estimatedMs += est;
        m.estimated++;
      }
    }
  }

  /** Takes a step out of the pending work (it finished, or turned out to be a group). */
  private forget(id: StepId): void {
    const s = this.steps.get(id);
    if (!s) return;
    this.pending = Math.max(0, this.pending - 1);
    const m = this.moduleOf(s.module);
    if (s.estimateMs === undefined) m.unknown = Math.max(0, m.unknown - 1);
    else {
      m.estimatedMs = Math.max(0, m.estimatedMs - s.estimateMs);
      m.estimated = Math.max(0, m.estimated - 1);
    }
  }

  private finish(r: StepResult): void {
    if (this.finished.has(r.id)) return;
    this.finished.add(r.id);
    this.running.delete(r.id);
    this.retrying.delete(r.id);
    // A step the run-start did not list: count it so that done never exceeds total.
    if (!this.steps.has(r.id)) this.addSteps([{ id: r.id, module: r.module }]);
    if (!this.groups.has(r.id)) this.forget(r.id);
    this.done++;
    if (r.cached) this.counts.cached++;
    else this.counts[r.status]++;
    if (
      !r.cached &&
      !this.groups.has(r.id) &&
      (r.status === "ok" || r.status === "failed") &&
      r.startMs !== undefined &&
      r.endMs !== undefined
    ) {
      const d = Math.max(0, r.endMs - r.startMs);
      this.measuredMs += d;
      this.measured++;
      const m = this.moduleOf(this.steps.get(r.id)!.module);
      m.measuredMs += d;
      m.measured++;
    }
  }
}

/** How long the step's last attempt ran, if it ran. */
export function durationOf(r: StepResult): number | undefined {
  return r.startMs !== undefined && r.endMs !== undefined ? Math.max(0, r.endMs - r.startMs) : undefined;
}
