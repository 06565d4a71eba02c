import type { Step, StepId } from "../graph/ir.js";
import type { Topology } from "../graph/topology.js";
import type { RunSummary } from "./result.js";
import type { ResultTable } from "./result-table.js";

/**
 * Counts, total work, and the critical path of the run as it actually happened: from the last step to
 * finish, back through whichever input arrived last, summing the time each step really ran.
 */
export function summarize(
  table: ResultTable,
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

  const ran = (i: number): number => {
    const st = table.statusOf(i);
    if (table.isCached(i) || mapItems.has(i) || !(st === "ok" || st === "failed" || table.attempts[i]! > 0))
      return 0;
    return Math.max(0, table.endOf(i) - table.startMs[i]!);
  };
  for (let i = 0; i < table.size; i++) {
    const st = table.statusOf(i);
    if (!st) continue;
    s.total++;
    if (table.isCached(i)) s.cached++;
    else s[st]++;
    s.workMs += ran(i);
  }

  // Steps that never started (blocked, cancelled while waiting) are not on any path that happened.
  const happened = (i: number): boolean => {
    const st = table.statusOf(i);
    return st === "ok" || st === "failed" || (st !== undefined && table.attempts[i]! > 0);
  };
  let cur = -1;
  for (let i = 0; i < table.size; i++) {
    if (happened(i) && (cur < 0 || table.endOf(i) > table.endOf(cur))) cur = i;
  }
  const path: StepId[] = [];
  while (cur >= 0) {
    path.push(steps[cur]!.id);
    s.criticalPathMs += ran(cur);
    // Follow whichever input arrived last: the dependency (or, for a map, the item) that ended last.
    let next = -1;
    const consider = (d: number): void => {
      if (happened(d) && (next < 0 || table.endOf(d) > table.endOf(next))) next = d;
    };
    const staticOf = parentOf.get(cur) ?? cur;
    if (staticOf < topology.ids.length) {
      for (let k = topology.depStart[staticOf]!; k < topology.depStart[staticOf + 1]!; k++) {
        consider(topology.depList[k]!);
      }
    }
    const m = mapItems.get(cur);
    if (m) for (let k = 0; k < m.count; k++) consider(m.first + k);
    cur = next;
  }
  s.criticalPath = path.reverse();
  return s;
}
