import type { Graph, Step, ValueExpr } from "../graph/ir.js";
import { itemOutputs, itemSteps } from "../graph/item-template.js";
import { ancestorsOf, buildTopology, collectRefs } from "../graph/topology.js";
import type { StepCache } from "./cache-port.js";
import type { ScheduleMode } from "./scheduler.js";
import { simulate } from "./simulate.js";
import { describe, evalAsync, projectOutputs, type EvalEnv } from "../graph/eval.js";
import { digestFile } from "../graph/digest.js";

export interface PlannedStep {
  id: string;
  module: string;
  /** For an item of a map (`for`): the map's id. */
  parent?: string;
  /** cached: would be restored; run: would execute; unknown: depends on a step that runs first. */
  status: "cached" | "run";
  reason: string;
  estimateMs?: number;
  /** Simulated start and end on the given slots, from estimates (unknown estimates count 0). */
  startMs: number;
  endMs: number;
}

interface PlannedItem {
  step: Step;
  hit: boolean;
  value?: unknown;
  reason: string;
}

/** The ids of the steps an expression refers to. */
function refsOf(e: ValueExpr): string[] {
  const out: string[] = [];
  collectRefs(e, out);
  return [...new Set(out)];
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
  const probe = options.cache?.probe?.bind(options.cache);
  const env: EvalEnv = {
    root: options.root,
    digest: options.cache?.digest?.bind(options.cache) ?? digestFile,
    valueOf: (id) => values[topology.index.get(id)!],
  };
  /** The items of maps whose list is known before the run, by the map's index. */
  const itemsOf = new Map<number, PlannedItem[]>();
  /** Whether a step would be restored from the cache, and its value then. */
  const lookup = async (step: Step): Promise<{ hit: boolean; value?: unknown; reason: string }> => {
    if (!probe) return { hit: false, reason: "no cache" };
    if (step.options.cache === false) return { hit: false, reason: "cache: false" };
    try {
      const args = await Promise.all(step.inputs.map((e) => evalAsync(e, env)));
      const found = await probe({
        step,
        args,
        outputs: projectOutputs(step, options.root),
        root: options.root,
        valueOfStep: env.valueOf,
      });
      if (found.hit) return { hit: true, value: found.value, reason: "unchanged" };
      return { hit: false, reason: found.reason ?? "not in the cache" };
    } catch (err) {
      return { hit: false, reason: `inputs not ready: ${(err as Error).message}` };
    }
  };
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
      reason[i] =
        step.action.kind === "map"
          ? `items known after ${upstream} runs`
          : `after ${upstream}, if its result changes`;
      continue;
    }
    if (step.action.kind === "map") {
      // The list is known now (a glob, the lines of a file, a cached step): plan every item.
      let items: Step[];
      try {
        const list = await evalAsync(step.inputs[0]!, env);
        if (!Array.isArray(list)) throw new Error(`map needs a list, but got ${describe(list)}`);
        items = itemSteps(step, list);
        itemOutputs(items, options.root);
      } catch (err) {
        status[i] = "run";
        reason[i] = `fails before its items run: ${(err as Error).message}`;
        continue;
      }
      const planned: PlannedItem[] = [];
      for (const item of items) planned.push({ step: item, ...(await lookup(item)) });
      itemsOf.set(i, planned);
      const toRun = planned.filter((p) => !p.hit).length;
      status[i] = toRun === 0 ? "cached" : "run";
      reason[i] =
        toRun === 0 ? `${items.length} items, all unchanged` : `${toRun} of ${items.length} items to run`;
      if (toRun === 0) values[i] = planned.map((p) => p.value);
      continue;
    }
    const found = await lookup(step);
    status[i] = found.hit ? "cached" : "run";
    reason[i] = found.reason;
    if (found.hit) values[i] = found.value;
  }
  const durations: Record<string, number> = {};
  let unknown = 0;
  const estimateOf = (s: Step, cached: boolean): number | undefined => {
    const e = s.options.estimateMs ?? options.estimate?.(s);
    if (cached) durations[s.id] = 0;
    else if (e === undefined) unknown++;
    else durations[s.id] = e;
    return e;
  };
  const estimates: (number | undefined)[] = graph.steps.map((s, i) => {
    if (status[i] === undefined) return undefined;
    // A map whose items are planned takes no time of its own: its items do the work.
    if (itemsOf.has(i)) return void (durations[s.id] = 0);
    return estimateOf(s, status[i] === "cached");
  });
  const mode = options.mode ?? "eager";
  const simSteps: Step[] = graph.steps.map((s) => ({
    ...s,
    options: { ...s.options, estimateMs: durations[s.id] ?? 0 },
  }));
  const itemEstimates = new Map<Step, number | undefined>();
  for (const [i, planned] of itemsOf) {
    // Items come after what the list needs, and the map after its items.
    const listRefs: ValueExpr[] = [];
    for (const id of refsOf(graph.steps[i]!.inputs[0]!)) listRefs.push({ kind: "ref", step: id });
    for (const p of planned) {
      itemEstimates.set(p.step, estimateOf(p.step, p.hit));
      simSteps.push({
        id: p.step.id,
        module: p.step.module,
        action: { kind: "function" },
        inputs: [{ kind: "list", items: listRefs }],
        options: { ...p.step.options, estimateMs: durations[p.step.id] ?? 0 },
      });
    }
    simSteps[i] = {
      ...simSteps[i]!,
      action: { kind: "function" },
      inputs: planned.map((p) => ({ kind: "ref", step: p.step.id })),
    };
  }
  const sim = simulate({ ...graph, steps: simSteps }, { concurrency: options.concurrency, mode, durations });
  const simById = new Map(sim.steps.map((x) => [x.id, x]));
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
    for (const p of itemsOf.get(i) ?? []) {
      const sim_p = simById.get(p.step.id);
      steps.push({
        id: p.step.id,
        module: p.step.module,
        parent: s.id,
        status: p.hit ? "cached" : "run",
        reason: p.reason,
        estimateMs: itemEstimates.get(p.step),
        startMs: sim_p?.startMs ?? 0,
        endMs: sim_p?.endMs ?? 0,
      });
    }
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
