import type { Step, StepId } from "../graph/ir.js";
import type { Topology } from "../graph/topology.js";
import type { RunSummary, StepResult } from "./result.js";

/**
 * Counts, total work, and the critical path of the run as it actually happened: from the last step to
 * finish, back through whichever input arrived last, summing the time each step really ran.
 */
export function summarize(
  /** Indexed like `steps`; undefined for steps that were not part of the run. */
  resultAt: (StepResult | undefined)[],
  steps: Step[],
  topology: Topology,
  mapItems: Map<number, { first: number; count: number }>,
  wallMs: number,
): RunSummary {
  const s: RunSummary = {
    total: 0,
    ok: 0,
    cached: 0,
    failed: 0,
    blocked: 0,
    cancelled: 0,
    wallMs,
    workMs: 0,
    criticalPathMs: 0,
    criticalPath: [],
  };
  const parentOf = new Map<number, number>();
  for (const [m, { first, count }] of mapItems) for (let k = 0; k < count; k++) parentOf.set(first + k, m);

  for (let i = 0; i < resultAt.length; i++) {
    const r = resultAt[i];
    if (!r) continue;
    s.total++;
    if (r.cached) s.cached++;
    else s[r.status]++;
    if (!r.cached && !mapItems.has(i)) s.workMs += ran(r);
  }

  const depsOf = (i: number): number[] => {
    const out: number[] = [];
    const staticOf = parentOf.get(i) ?? i;
    if (staticOf < topology.ids.length) {
      for (let k = topology.depStart[staticOf]!; k < topology.depStart[staticOf + 1]!; k++)
        out.push(topology.depList[k]!);
    }
    const m = mapItems.get(i);
    if (m) for (let k = 0; k < m.count; k++) out.push(m.first + k);
    return out;
  };

  let cur = -1;
  for (let i = 0; i < steps.length; i++) {
    const r = resultAt[i];
    if (r?.endMs !== undefined && (cur < 0 || r.endMs > resultAt[cur]!.endMs!)) cur = i;
  }
  const path: StepId[] = [];
  while (cur >= 0) {
    const r = resultAt[cur]!;
    path.push(r.id);
    if (!r.cached && !mapItems.has(cur)) s.criticalPathMs += ran(r);
    let next = -1;
    for (const d of depsOf(cur)) {
      const dr = resultAt[d];
      if (dr?.endMs !== undefined && (next < 0 || dr.endMs > resultAt[next]!.endMs!)) next = d;
    }
    cur = next;
  }
  s.criticalPath = path.reverse();
  return s;
}

function ran(r: StepResult): number {
  return r.startMs !== undefined && r.endMs !== undefined ? Math.max(0, r.endMs - r.startMs) : 0;
}
