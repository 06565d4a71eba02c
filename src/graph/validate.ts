import type { Graph, Step } from "./ir.js";
import { buildTopology, suggest, type GraphError, type Topology } from "./topology.js";

/** Thrown by the TS API for a graph that cannot run; `errors` holds every problem found, not just one. */
export class InvalidGraphError extends Error {
  override name = "InvalidGraphError";

  constructor(readonly errors: GraphError[]) {
    super(`invalid graph:\n${errors.map((e) => `  ${e.message}${e.hint ? ` (${e.hint})` : ""}`).join("\n")}`);
  }
}

const isCount = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v) && v >= 1;

/** Shape (ids, references, cycles) plus every option a run would trip over, all reported at once. */
export function validateGraph(
  graph: Graph,
  run: { concurrency?: number } = {},
): {
  topology: Topology;
  errors: GraphError[];
} {
  const { topology, errors } = buildTopology(graph);
  const bad = (message: string, hint?: string, step?: Step): void => {
    errors.push({
      code: step ? "bad-step" : "bad-option",
      message,
      hint,
      step: step?.id,
      source: step?.source,
    });
  };
  if (run.concurrency !== undefined && !isCount(run.concurrency)) {
    bad(
      `concurrency must be a whole number of at least 1, got ${run.concurrency}`,
      "use -j 1 to run one step at a time",
    );
  }
  const pools = graph.pools ?? {};
  for (const [name, cap] of Object.entries(pools)) {
    if (!isCount(cap)) bad(`pool "${name}" needs a capacity of at least 1, got ${cap}`);
  }
  for (const [name, lim] of Object.entries(graph.limits ?? {})) {
    if (lim.concurrency !== undefined && !isCount(lim.concurrency)) {
      bad(`module ${name}: concurrency must be a whole number of at least 1, got ${lim.concurrency}`);
    }
    if (lim.rate !== undefined && !(isCount(lim.rate.tokens) && lim.rate.perMs > 0)) {
      bad(
        `module ${name}: a rate needs at least 1 call per period, got ${lim.rate.tokens}/${lim.rate.perMs}ms`,
        "write it like 20/s or 100/1min",
      );
    }
  }
  for (const s of graph.steps) {
    const o = s.options;
    if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0)) {
      bad(`step ${s.id}: retries must be a whole number of at least 0, got ${o.retries}`, undefined, s);
    }
    if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) {
      bad(`step ${s.id}: timeout must be positive, got ${o.timeoutMs}ms`, undefined, s);
    }
    if (o.cpus !== undefined && !(Number.isInteger(o.cpus) && o.cpus >= 0)) {
      bad(`step ${s.id}: cpus must be a whole number of at least 0, got ${o.cpus}`, undefined, s);
    }
    if (o.memory !== undefined && !(Number.isFinite(o.memory) && o.memory >= 0)) {
      bad(`step ${s.id}: memory must be a number of bytes of at least 0, got ${o.memory}`, undefined, s);
    }
    if (o.priority !== undefined && !Number.isFinite(o.priority)) {
      bad(`step ${s.id}: priority must be a number, got ${o.priority}`, undefined, s);
    }
    if (o.pool !== undefined && !(o.pool in pools)) {
      bad(
        `step ${s.id}: unknown pool "${o.pool}"`,
        suggest(o.pool, Object.keys(pools)) ?? "declare it under pools",
        s,
      );
    }
    checkAction(s, s.action, bad);
  }
  return { topology, errors };
}

function checkAction(s: Step, a: Step["action"], bad: (m: string, h?: string, s?: Step) => void): void {
  if (a.kind === "function") {
    if (a.thread && !a.ref)
      bad(`step ${s.id}: a worker-thread step needs its module file (ref)`, undefined, s);
    if (!a.thread && !a.fn && !a.ref) bad(`step ${s.id}: no function to run`, undefined, s);
  } else if (a.kind === "map") {
    if (s.inputs.length === 0) bad(`step ${s.id}: map needs a list as its first input`, undefined, s);
    checkAction(s, a.item, bad);
  } else if (a.kind === "process" && !a.shell && s.inputs.length === 0) {
    bad(`step ${s.id}: a command needs at least the program name`, undefined, s);
  }
}
