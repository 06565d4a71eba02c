import type { Graph, Step } from "../graph/ir.js";
import { ancestorsOf, buildTopology } from "../graph/topology.js";
import type { StepCache } from "./cache-port.js";
import type { ScheduleMode } from "./scheduler.js";
import { simulate } from "./simulate.js";
import { evalAsync, projectOutputs, type EvalEnv } from "../graph/eval.js";
import { digestFile } from "../graph/digest.js";

export interface PlannedStep {
  id: string;
  module: string;
  /** cached: would be restored; run: would execute; unknown: depends on a step that runs first. */
  status: "cached" | "run";
  reason: string;
  estimateMs?: number;
  /** Simulated start and end on the given slots, from estimates (unknown estimates count 0). */
  startMs: number;
  endMs: number;
}

export interface Plan {
  steps: PlannedStep[];
  concurrency: number;
  mode: ScheduleMode;
  /** Simulated wall time; undefined when some step that runs has no estimate. */
  wallMs?: number;
  unknownEstimates: number;
}

export interface PlanOptions {
  concurrency: number;
  mode?: ScheduleMode;
  root: string;
  cache?: StepCache;
  estimate?: (step: Step) => number | undefined;
}

/**
 * What a run would do, without doing it: which steps are cached (asked of the cache without restoring
 * anything), which would run, and in what order on the given slots, simulated with the same scheduler
 * a real run uses.
 */
export async function planGraph(graph: Graph, options: PlanOptions): Promise<Plan> {
  const { topology } = buildTopology(graph);
  const order = topology.order!;
  const targets = graph.outputs?.map((id) => topology.index.get(id)!);
  const needed = targets ? ancestorsOf(topology, targets) : undefined;
  const n = graph.steps.length;
  const status: ("cached" | "run")[] = new Array(n);
  const reason: string[] = new Array(n);
  const values: unknown[] = new Array(n);
  for (const i of order) {
    if (needed && !needed[i]) continue;
    const step = graph.steps[i]!;
    let upstream: string | undefined;
    for (let k = topology.depStart[i]!; k < topology.depStart[i + 1]!; k++) {
      const d = topology.depList[k]!;
      if (status[d] === "run") upstream = graph.steps[d]!.id;
    }
    if (upstream !== undefined) {
      status[i] = "run";
      reason[i] = `after ${upstream}, if its result changes`;
      continue;
    }
    const probe = options.cache?.probe?.bind(options.cache);
    if (!probe || step.options.cache === false || step.action.kind === "map") {
      status[i] = "run";
      reason[i] = !probe ? "no cache" : step.options.cache === false ? "cache: false" : "map items";
      continue;
    }
    const env: EvalEnv = {
      root: options.root,
      digest: options.cache?.digest?.bind(options.cache) ?? digestFile,
      valueOf: (id) => values[topology.index.get(id)!],
    };
    try {
      const args = await Promise.all(step.inputs.map((e) => evalAsync(e, env)));
      const found = await probe({
        step,
        args,
        outputs: projectOutputs(step, options.root),
        root: options.root,
        valueOfStep: env.valueOf,
      });
      if (found.hit) {
        status[i] = "cached";
        reason[i] = "unchanged";
        values[i] = found.value;
      } else {
        status[i] = "run";
        reason[i] = found.reason ?? "not in the cache";
      }
    } catch (err) {
      status[i] = "run";
      reason[i] = `inputs not ready: ${(err as Error).message}`;
    }
  }
  const durations: Record<string, number> = {};
  let unknown = 0;
  const estimates: (number | undefined)[] = graph.steps.map((s, i) => {
    if (status[i] === undefined) return undefined;
    const e = s.options.estimateMs ?? options.estimate?.(s);
    if (status[i] === "cached") durations[s.id] = 0;
    else if (e === undefined) unknown++;
    else durations[s.id] = e;
    return e;
  });
  const mode = options.mode ?? "eager";
  const sim = simulate(
    {
      ...graph,
      steps: graph.steps.map((s) => ({ ...s, options: { ...s.options, estimateMs: durations[s.id] ?? 0 } })),
    },
    { concurrency: options.concurrency, mode, durations },
  );
  const steps: PlannedStep[] = [];
  for (let i = 0; i < n; i++) {
    if (status[i] === undefined) continue;
    const s = graph.steps[i]!;
    const sim_i = sim.steps[i]!;
    steps.push({
      id: s.id,
      module: s.module,
      status: status[i]!,
      reason: reason[i]!,
      estimateMs: estimates[i],
      startMs: sim_i.startMs ?? 0,
      endMs: sim_i.endMs ?? 0,
    });
  }
  steps.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  return {
    steps,
    concurrency: options.concurrency,
    mode,
    wallMs: unknown === 0 ? sim.makespanMs : undefined,
    unknownEstimates: unknown,
  };
}
