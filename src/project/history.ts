import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../cache/atomic-write.js";
import type { Step } from "../graph/ir.js";
import type { StepResult } from "../engine/result.js";

/**
 * Measured step durations from earlier runs, so priorities (longest remaining path) and the ETA use
 * real numbers where the flow declares no estimate. Kept per step id, as a moving average.
 */
export class DurationHistory {
  private constructor(
    private readonly file: string,
    private readonly byId: Map<string, number>,
  ) {}

  static async load(file: string): Promise<DurationHistory> {
    try {
      const data = JSON.parse(await readFile(file, "utf8")) as Record<string, number>;
      return new DurationHistory(
        file,
        new Map(Object.entries(data).filter(([, v]) => typeof v === "number")),
      );
    } catch {
      // Missing or unreadable: start afresh; it is only a hint.
      return new DurationHistory(file, new Map());
    }
  }

  estimate = (step: Step): number | undefined => this.byId.get(step.id);

  /** Learns from a run's results; true when anything new was learned (worth saving). */
  record(results: readonly StepResult[]): boolean {
    let changed = false;
    for (const r of results) {
      if (r.status !== "ok" || r.cached || r.startMs === undefined || r.endMs === undefined) continue;
      const ms = r.endMs - r.startMs;
      const old = this.byId.get(r.id);
      // Weighted towards the newest run, without letting one outlier erase the past.
      this.byId.set(r.id, old === undefined ? ms : 0.3 * old + 0.7 * ms);
      changed = true;
    }
    return changed;
  }

  async save(): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.byId)), { createDirs: true });
  }
}
