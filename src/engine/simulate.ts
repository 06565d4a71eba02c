import type { Graph } from "../graph/ir.js";
import { buildTopology } from "../graph/topology.js";
import { Scheduler, type ScheduleMode, type StepMeta } from "./scheduler.js";

export interface SimulationOptions {
  concurrency: number;
  mode?: ScheduleMode;
  /** false: strict order for wide steps, no backfilling (for comparison). Default true. */
  backfill?: boolean;
  /** Bytes the steps that declare `memory` share. Default unlimited. */
  memory?: number;
  /** Duration of each step by id; steps not listed take their estimate, else 0. */
  durations?: Record<string, number>;
  /** Steps that fail (their dependents are blocked). */
  failing?: Iterable<string>;
}

export interface SimulatedStep {
  id: string;
  status: "ok" | "failed" | "blocked";
  startMs?: number;
  endMs?: number;
}

export interface SimulationResult {
  makespanMs: number;
  steps: SimulatedStep[];
}

/**
 * Runs the real scheduler against a virtual clock: steps "take" their given durations and nothing
 * sleeps. Used to test scheduling decisions exactly and to score them on published task graphs.
 */
export function simulate(graph: Graph, options: SimulationOptions): SimulationResult {
  const { topology, errors } = buildTopology(graph);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join("\n"));
  const n = graph.steps.length;
  const duration = new Float64Array(n);
  const metas: StepMeta[] = graph.steps.map((s, i) => {
    duration[i] = options.durations?.[s.id] ?? s.options.estimateMs ?? 0;
    return {
      module: s.module,
      priority: s.options.priority ?? 0,
      cpus: s.options.cpus ?? 1,
      memory: s.options.memory ?? 0,
      pool: s.options.pool,
      estimateMs: s.options.estimateMs ?? duration[i]!,
      // As in a real run, only a declared estimate is known before the step ends (durations are the truth).
      estimateKnown: s.options.estimateMs !== undefined,
      partial: false,
      isMap: false,
    };
  });
  const failing = new Set(options.failing ?? []);
  const scheduler = new Scheduler(topology, (i) => metas[i]!, {
    concurrency: options.concurrency,
    memory: options.memory,
    backfill: options.backfill,
    mode: options.mode,
    pools: graph.pools,
    limits: graph.limits,
  });
  const out: SimulatedStep[] = graph.steps.map((s) => ({ id: s.id, status: "blocked" }));
  // Running steps by end time; small n, so a sorted array is simpler than a heap and just as fast.
  const running: { i: number; end: number }[] = [];
  let now = 0;
  for (;;) {
    for (let i = scheduler.next(now); i >= 0; i = scheduler.next(now)) {
      const end = now + duration[i]!;
      out[i]!.startMs = now;
      out[i]!.endMs = end;
      let k = running.length;
      while (k > 0 && running[k - 1]!.end > end) k--;
      running.splice(k, 0, { i, end });
    }
    if (running.length === 0 && scheduler.remaining === 0) break;
    const nextEnd = running.length > 0 ? running[0]!.end : Infinity;
    const wake = scheduler.wakeAt(now);
    if (wake > now && wake < nextEnd) {
      // A rate-limited step may start before the next finish.
      now = wake;
      continue;
    }
    if (nextEnd === Infinity) throw new Error("simulation stalled: steps remain but none can start");
    // Finish everything that ends at the same instant before choosing what starts next, so a
    // simultaneous finish cannot hand a slot to a lower-priority step.
    now = nextEnd;
    while (running.length > 0 && running[0]!.end === now) {
      const { i } = running.shift()!;
      const fails = failing.has(graph.steps[i]!.id);
      out[i]!.status = fails ? "failed" : "ok";
      scheduler.finish(i, fails ? "failed" : "ok");
    }
  }
  return { makespanMs: now, steps: out };
}
