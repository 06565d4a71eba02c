import { describe, expect, it } from "vitest";
import { ModuleGates } from "../../src/engine/module-gates.js";
import type { Graph, ModuleLimits, Step } from "../../src/graph/ir.js";
import { runGraph } from "../../src/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts calls in flight across every run that shares it. */
class InFlight {
  now = 0;
  max = 0;
  calls = 0;

  wrap(fn: () => Promise<unknown>): () => Promise<unknown> {
    return async () => {
      this.calls++;
      this.max = Math.max(this.max, ++this.now);
      try {
        return await fn();
      } finally {
        this.now--;
      }
    };
  }
}

const graphOf = (module: string, limits: ModuleLimits, fns: (() => unknown)[]): Graph => ({
  steps: fns.map((fn, k): Step => ({
    id: `s${k}`,
    module,
    action: { kind: "function", fn },
    inputs: [],
    options: {},
  })),
  limits: { [module]: limits },
});

const times = <T>(n: number, f: (k: number) => T): T[] => Array.from({ length: n }, (_, k) => f(k));

describe("module limits shared by concurrent runs", () => {
  it("a concurrency limit holds across every run of the process by default", async () => {
    const flight = new InFlight();
    const g = graphOf(
      "SharedApi",
      { concurrency: 2 },
      times(4, () => flight.wrap(() => sleep(30))),
    );
    const runs = await Promise.all(times(3, () => runGraph(g, { concurrency: 8 })));
    expect(runs.map((r) => r.ok)).toEqual([true, true, true]);
    expect(flight.calls).toBe(12);
    expect(flight.max).toBe(2);
    // Twelve calls two at a time: the later ones waited for a slot, and say so.
    const queued = runs.flatMap((r) => r.steps.map((s) => s.queuedMs!));
    expect(queued.every((q) => q >= 0)).toBe(true);
    expect(Math.max(...queued)).toBeGreaterThanOrEqual(60);
  });

  it("a rate limit's bucket is shared: the burst is spent once, then starts follow the rate", async () => {
    const gates = new ModuleGates();
    const starts: number[] = [];
    // 5 calls at once, then one every 100 ms.
    const g = graphOf(
      "RatedApi",
      { rate: { tokens: 5, perMs: 500 } },
      times(4, () => () => void starts.push(performance.now())),
    );
    const runs = await Promise.all(times(3, () => runGraph(g, { concurrency: 8, moduleGates: gates })));
    expect(runs.every((r) => r.ok)).toBe(true);
    expect(starts).toHaveLength(12);
    starts.sort((a, b) => a - b);
    const first = starts[0]!;
    // Private buckets would have started all 12 at once (3 bursts of 5).
    expect(starts.filter((t) => t - first < 50)).toHaveLength(5);
    // The k-th call after the burst needs k refills; a little slack for when the bucket was made.
    for (let k = 5; k < 12; k++) expect(starts[k]! - first).toBeGreaterThanOrEqual((k - 4) * 100 - 40);
  });

  it("a cancelled run gives its slot back, so the other runs finish", async () => {
    const gates = new ModuleGates();
    const limits = { concurrency: 1 };
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const hog = graphOf("HeldApi", limits, [
      () => (holding(), new Promise(() => {})),
      () => new Promise(() => {}),
    ]);
    const flight = new InFlight();
    const others = graphOf(
      "HeldApi",
      limits,
      times(2, () => flight.wrap(() => sleep(10))),
    );
    const abort = new AbortController();
    let hogEnds = 0;
    const hogRun = runGraph(hog, {
      moduleGates: gates,
      signal: abort.signal,
      onEvent: (e) => void (e.type === "run-end" && hogEnds++),
    });
    await held;
    const rest = [runGraph(others, { moduleGates: gates }), runGraph(others, { moduleGates: gates })];
    await sleep(50);
    expect(flight.calls).toBe(0);
    abort.abort();
    const h = await hogRun;
    expect(h.cancelled).toBe(true);
    expect(h.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    const done = await Promise.all(rest);
    expect(done.map((r) => r.ok)).toEqual([true, true]);
    expect(flight.calls).toBe(4);
    expect(flight.max).toBe(1);
    // The releases after the hog ended must not wake it into a second end.
    expect(hogEnds).toBe(1);
  });

  it("different limits for one module name, or separate registries, are counted apart", async () => {
    const gates = new ModuleGates();
    const all = new InFlight();
    const one = new InFlight();
    const two = new InFlight();
    const step = (own: InFlight) => all.wrap(own.wrap(() => sleep(40)));
    const g1 = graphOf(
      "DualApi",
      { concurrency: 1 },
      times(4, () => step(one)),
    );
    const g2 = graphOf(
      "DualApi",
      { concurrency: 2 },
      times(4, () => step(two)),
    );
    const runs = await Promise.all([g1, g2].map((g) => runGraph(g, { concurrency: 8, moduleGates: gates })));
    expect(runs.every((r) => r.ok)).toBe(true);
    expect([one.max, two.max, all.max]).toEqual([1, 2, 3]);

    const apart = new InFlight();
    const g = graphOf(
      "ApartApi",
      { concurrency: 2 },
      times(4, () => apart.wrap(() => sleep(40))),
    );
    const separate = await Promise.all(
      times(2, () => runGraph(g, { concurrency: 8, moduleGates: new ModuleGates() })),
    );
    expect(separate.every((r) => r.ok)).toBe(true);
    expect(apart.max).toBe(4);
  });
});
