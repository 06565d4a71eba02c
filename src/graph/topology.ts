import type { Graph, SourceSpan, StepId, ValueExpr } from "./ir.js";

/** A problem with the graph's shape, reported as a value the caller can show and act on. */
export interface GraphError {
  code: "duplicate-id" | "unknown-ref" | "cycle" | "unknown-output" | "empty-id" | "bad-option" | "bad-step";
  message: string;
  step?: StepId;
  source?: SourceSpan;
  hint?: string;
  /** For cycles: the steps on the cycle, first repeated at the end (`a -> b -> a`). */
  path?: StepId[];
}

/**
 * The graph as integer-indexed adjacency in compressed sparse rows: fast to walk for 100k steps and
 * cheap in memory. Index i is `graph.steps[i]`.
 */
export interface Topology {
  ids: StepId[];
  index: Map<StepId, number>;
  /** deps of i: depList[depStart[i] .. depStart[i+1]) — distinct, in first-use order. */
  depStart: Int32Array;
  depList: Int32Array;
  succStart: Int32Array;
  succList: Int32Array;
  /** A topological order; absent when the graph has a cycle. */
  order?: Int32Array;
}

/** Every step id referenced by an expression, in order of appearance (may repeat). */
export function collectRefs(expr: ValueExpr, out: StepId[]): void {
  switch (expr.kind) {
    case "ref":
      out.push(expr.step);
      return;
    case "list":
      for (const e of expr.items) collectRefs(e, out);
      return;
    case "record":
      for (const k of Object.keys(expr.fields)) collectRefs(expr.fields[k]!, out);
      return;
    case "concat":
      for (const e of expr.parts) collectRefs(e, out);
      return;
    case "file":
      collectRefs(expr.path, out);
      return;
    case "pathPart":
    case "lines":
      collectRefs(expr.of, out);
      return;
    case "itemOutput":
      collectRefs(expr.path, out);
      return;
    default:
      return;
  }
}

/** Builds the adjacency and reports duplicate ids, unknown references and cycles (with their path). */
export function buildTopology(graph: Graph): { topology: Topology; errors: GraphError[] } {
  const errors: GraphError[] = [];
  const steps = graph.steps;
  const n = steps.length;
  const index = new Map<StepId, number>();
  const ids: StepId[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = steps[i]!;
    ids[i] = s.id;
    if (s.id === "") {
      errors.push({ code: "empty-id", message: "a step has an empty id", source: s.source });
      continue;
    }
    // One hash operation per step on the common path: a duplicate shows as a set that did not grow.
    const size = index.size;
    index.set(s.id, i);
    if (index.size === size) {
      const prev = steps.findIndex((x) => x.id === s.id);
      index.set(s.id, prev);
      errors.push({
        code: "duplicate-id",
        message: `duplicate step id "${s.id}"`,
        step: s.id,
        source: s.source ?? steps[prev]!.source,
        hint: "give every step a unique id",
      });
    }
  }

  const depStart = new Int32Array(n + 1);
  const deps: number[] = [];
  const refs: StepId[] = [];
  // Stamp per target so de-duplicating refs costs O(refs), not a Set per step.
  const seenBy = new Int32Array(n).fill(-1);
  const addDep = (i: number, j: number): void => {
    if (seenBy[j] === i) return;
    seenBy[j] = i;
    deps.push(j);
  };
  for (let i = 0; i < n; i++) {
    depStart[i] = deps.length;
    const s = steps[i]!;
    for (const e of s.inputs) {
      // The common case, a plain reference whose position is known, needs no lookup by id.
      if (e.kind === "ref" && e.at !== undefined && steps[e.at]?.id === e.step) {
        addDep(i, e.at);
        continue;
      }
      refs.length = 0;
      collectRefs(e, refs);
      for (const r of refs) {
        const j = index.get(r);
        if (j !== undefined) {
          addDep(i, j);
          continue;
        }
        errors.push({
          code: "unknown-ref",
          message: `step "${s.id}" uses "${r}", which is not a step`,
          step: s.id,
          source: s.source,
          hint: suggest(r, index.keys()),
        });
      }
    }
  }
  depStart[n] = deps.length;
  const depList = Int32Array.from(deps);

  const succCount = new Int32Array(n + 1);
  for (let k = 0; k < depList.length; k++) succCount[depList[k]!]!++;
  const succStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) succStart[i + 1] = succStart[i]! + succCount[i]!;
  const fill = succStart.slice(0, n);
  const succList = new Int32Array(depList.length);
  for (let i = 0; i < n; i++) {
    for (let k = depStart[i]!; k < depStart[i + 1]!; k++) succList[fill[depList[k]!]!++] = i;
  }

  const topology: Topology = { ids, index, depStart, depList, succStart, succList };
  topology.order = toposort(topology);
  const cycle = topology.order ? undefined : findCycle(topology);
  if (cycle) {
    const first = steps[index.get(cycle[0]!)!];
    errors.push({
      code: "cycle",
      message: `cycle: ${cycle.join(" -> ")}`,
      step: cycle[0],
      source: first?.source,
      path: cycle,
      hint: "a step cannot depend on its own result; break one of these uses",
    });
  }
  for (const o of graph.outputs ?? []) {
    if (!index.has(o)) {
      errors.push({
        code: "unknown-output",
        message: `requested output "${o}" is not a step`,
        step: o,
        hint: suggest(o, index.keys()),
      });
    }
  }
  return { topology, errors };
}

/** Kahn's order; undefined when the graph has a cycle. */
export function toposort(t: Topology): Int32Array | undefined {
  const n = t.ids.length;
  const indeg = new Int32Array(n);
  for (let i = 0; i < n; i++) indeg[i] = t.depStart[i + 1]! - t.depStart[i]!;
  const order = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) if (indeg[i] === 0) order[tail++] = i;
  while (head < tail) {
    const v = order[head++]!;
    for (let k = t.succStart[v]!; k < t.succStart[v + 1]!; k++) {
      const w = t.succList[k]!;
      if (--indeg[w]! === 0) order[tail++] = w;
    }
  }
  return tail === n ? order : undefined;
}

/** The first cycle found, as ids with the first repeated at the end; undefined when acyclic. */
export function findCycle(t: Topology): StepId[] | undefined {
  if (toposort(t)) return undefined;
  const n = t.ids.length;
  // Iterative DFS colouring: 0 new, 1 on the stack, 2 done.
  const colour = new Uint8Array(n);
  const parent = new Int32Array(n).fill(-1);
  const cursor = new Int32Array(n);
  for (let root = 0; root < n; root++) {
    if (colour[root] !== 0) continue;
    const stack = [root];
    colour[root] = 1;
    cursor[root] = t.depStart[root]!;
    while (stack.length > 0) {
      const v = stack[stack.length - 1]!;
      if (cursor[v]! < t.depStart[v + 1]!) {
        const w = t.depList[cursor[v]!++]!;
        if (colour[w] === 0) {
          colour[w] = 1;
          parent[w] = v;
          cursor[w] = t.depStart[w]!;
          stack.push(w);
        } else if (colour[w] === 1) {
          // v depends on w, which is on the stack: w -> ... -> v -> w in dependency order.
          // Report it in data-flow order (producer first), which is how users read their files.
          const path: number[] = [v];
          for (let u = v; u !== w;) {
            u = parent[u]!;
            path.push(u);
          }
          path.push(v);
          return path.map((i) => t.ids[i]!);
        }
      } else {
        colour[v] = 2;
        stack.pop();
      }
    }
  }
  return undefined;
}

/** Layer of each step: 0 for steps without dependencies, else 1 + the deepest dependency's layer. */
export function layers(t: Topology, order: Int32Array = t.order ?? toposort(t)!): Int32Array {
  const layer = new Int32Array(t.ids.length);
  for (const v of order) {
    let l = 0;
    for (let k = t.depStart[v]!; k < t.depStart[v + 1]!; k++) l = Math.max(l, layer[t.depList[k]!]! + 1);
    layer[v] = l;
  }
  return layer;
}

/**
 * Bottom level of each step: its own weight plus the heaviest path from it to any sink. The scheduler
 * prefers steps with the longest remaining path, which keeps the critical path moving.
 */
export function bottomLevels(
  t: Topology,
  weight: ArrayLike<number>,
  order: Int32Array = t.order ?? toposort(t)!,
): Float64Array {
  const level = new Float64Array(t.ids.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    let best = 0;
    for (let s = t.succStart[v]!; s < t.succStart[v + 1]!; s++) best = Math.max(best, level[t.succList[s]!]!);
    level[v] = weight[v]! + best;
  }
  return level;
}

/** Marks every step needed to produce `targets`: the targets and all their ancestors. */
export function ancestorsOf(t: Topology, targets: Iterable<number>): Uint8Array {
  const needed = new Uint8Array(t.ids.length);
  const stack: number[] = [];
  for (const x of targets) {
    if (!needed[x]) {
      needed[x] = 1;
      stack.push(x);
    }
  }
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (let k = t.depStart[v]!; k < t.depStart[v + 1]!; k++) {
      const w = t.depList[k]!;
      if (!needed[w]) {
        needed[w] = 1;
        stack.push(w);
      }
    }
  }
  return needed;
}

/** Indices of steps nothing depends on. */
export function sinks(t: Topology): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.ids.length; i++) if (t.succStart[i + 1] === t.succStart[i]) out.push(i);
  return out;
}

/** `did you mean X?` for a misspelt name, by edit distance; undefined when nothing is close. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) >= bestD) continue;
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best === undefined ? undefined : `did you mean ${best}?`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub);
      // Transposition ("GetUsre") counts as one edit.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, sub);
    }
    prev = cur;
  }
  return prev[b.length]!;
}
