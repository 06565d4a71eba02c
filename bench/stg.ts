import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Graph } from "../src/graph/ir.js";
import { simulate } from "../src/engine/simulate.js";
import type { ScheduleMode } from "../src/engine/scheduler.js";
import { BENCH_DATA } from "./workloads.js";
import { prng } from "./util.js";

/** One STG task graph: durations and predecessors, dummy entry/exit nodes included (duration 0). */
export interface StgGraph {
  name: string;
  durations: number[];
  preds: number[][];
}

export function parseStg(name: string, text: string): StgGraph {
  const durations: number[] = [];
  const preds: number[][] = [];
  const lines = text.split("\n");
  // The header count is not trusted: node lines run until the first comment.
  for (const line of lines.slice(1)) {
    if (line.startsWith("#")) break;
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 3 || f.some(Number.isNaN)) continue;
    const [id, time, k] = f as [number, number, number];
    durations[id] = time;
    preds[id] = f.slice(3, 3 + k);
  }
  return { name, durations, preds };
}

export function stgToGraph(g: StgGraph): Graph {
  return {
    steps: g.durations.map((d, i) => ({
      id: `t${i}`,
      module: "task",
      action: { kind: "function" },
      inputs: g.preds[i]!.map((p) => ({ kind: "ref" as const, step: `t${p}` })),
      options: { estimateMs: d },
    })),
  };
}

export interface StgCase {
  graph: StgGraph;
  slots: number;
  /** Proven optimum, or the best known upper bound when unproven. */
  optimum: number;
  lowerBound: number;
}

export function loadStgCases(): StgCase[] {
  const dir = join(BENCH_DATA, "stg");
  const cache = new Map<string, StgGraph>();
  const cases: StgCase[] = [];
  for (const slots of [2, 4, 8, 16]) {
    const csv = readFileSync(join(dir, `Case50_${slots}_OPT.csv`), "utf8");
    for (const row of csv.split("\n")) {
      const [file, , v1, v2] = row.trim().split(",");
      if (!file || v1 === undefined) continue;
      let graph = cache.get(file);
      if (!graph) {
        graph = parseStg(file, readFileSync(join(dir, file), "utf8"));
        cache.set(file, graph);
      }
      const work = graph.durations.reduce((a, b) => a + b, 0);
      const cp = criticalPath(graph);
      cases.push({
        graph,
        slots,
        optimum: Number(v2 ?? v1),
        lowerBound: Math.max(cp, Math.ceil(work / slots)),
      });
    }
  }
  return cases;
}

function criticalPath(g: StgGraph): number {
  const finish: number[] = [];
  for (let i = 0; i < g.durations.length; i++) {
    let start = 0;
    for (const p of g.preds[i]!) start = Math.max(start, finish[p]!);
    finish[i] = start + g.durations[i]!;
  }
  return Math.max(...finish);
}

export interface StgScore {
  mode: ScheduleMode;
  bySlots: Map<number, { meanGap: number; worstGap: number; n: number }>;
  overallMeanGap: number;
  belowBound: number;
}

/** Simulates every case with one scheduling mode; gaps are (makespan - optimum) / optimum. */
export function scoreStg(cases: StgCase[], mode: ScheduleMode): StgScore {
  const bySlots = new Map<number, { meanGap: number; worstGap: number; n: number }>();
  let sum = 0;
  let belowBound = 0;
  for (const c of cases) {
    const r = simulate(stgToGraph(c.graph), { concurrency: c.slots, mode });
    if (r.makespanMs < c.lowerBound) belowBound++;
    const gap = (r.makespanMs - c.optimum) / c.optimum;
    sum += gap;
    const s = bySlots.get(c.slots) ?? { meanGap: 0, worstGap: -Infinity, n: 0 };
    s.meanGap += gap;
    s.worstGap = Math.max(s.worstGap, gap);
    s.n++;
    bySlots.set(c.slots, s);
  }
  for (const s of bySlots.values()) s.meanGap /= s.n;
  return { mode, bySlots, overallMeanGap: sum / cases.length, belowBound };
}

/** One STG graph with wide steps: about one task in five takes 2 to 4 CPU slots (seeded by the graph). */
export function wideStgGraph(
  g: StgGraph,
  slots: number,
  estimates: boolean,
): { graph: Graph; durations: Record<string, number>; bound: number } {
  const rand = prng(hashName(g.name));
  const graph = stgToGraph(g);
  const durations: Record<string, number> = {};
  let work = 0;
  for (const s of graph.steps) {
    const d = s.options.estimateMs!;
    durations[s.id] = d;
    const cpus = rand() < 0.2 ? Math.min(slots, 2 + Math.floor(rand() * 3)) : 1;
    s.options = estimates ? { estimateMs: d, cpus } : { cpus };
    work += d * cpus;
  }
  return { graph, durations, bound: Math.max(criticalPath(g), Math.ceil(work / slots)) };
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface WideScore {
  slots: number;
  /** Mean makespan / lower bound: strict order, backfilling with estimates, backfilling without. */
  strict: number;
  known: number;
  unknown: number;
  /** Cases where backfilling (with estimates) finished later than strict order. */
  worse: number;
  n: number;
}

/** Wide steps on the STG graphs: strict order against backfilling, by slot count. */
export function scoreWide(cases: StgCase[], slotCounts: number[]): WideScore[] {
  const graphs = new Map(cases.map((c) => [c.graph.name, c.graph]));
  return slotCounts.map((slots) => {
    const score: WideScore = { slots, strict: 0, known: 0, unknown: 0, worse: 0, n: 0 };
    for (const g of graphs.values()) {
      const known = wideStgGraph(g, slots, true);
      const unknown = wideStgGraph(g, slots, false);
      const strict = simulate(known.graph, { concurrency: slots, backfill: false }).makespanMs;
      const filled = simulate(known.graph, { concurrency: slots }).makespanMs;
      const blind = simulate(unknown.graph, { concurrency: slots, durations: unknown.durations }).makespanMs;
      score.strict += strict / known.bound;
      score.known += filled / known.bound;
      score.unknown += blind / known.bound;
      if (filled > strict) score.worse++;
      score.n++;
    }
    score.strict /= score.n;
    score.known /= score.n;
    score.unknown /= score.n;
    return score;
  });
}
