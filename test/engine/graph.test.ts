import { describe, expect, it } from "vitest";
import type { Graph, Step } from "../../src/graph/ir.js";
import { ancestorsOf, bottomLevels, buildTopology, layers, toposort } from "../../src/graph/topology.js";
import { validateGraph } from "../../src/graph/validate.js";
import { flow, InvalidGraphError, runGraph } from "../../src/index.js";

const step = (id: string, deps: string[] = [], extra: Partial<Step> = {}): Step => ({
  id,
  module: "m",
  action: { kind: "function", fn: () => id },
  inputs: deps.map((d) => ({ kind: "ref", step: d })),
  options: {},
  ...extra,
});

describe("graph validation", () => {
  it("reports a cycle with its whole path", () => {
    const g: Graph = { steps: [step("a", ["c"]), step("b", ["a"]), step("c", ["b"]), step("d", [])] };
    const { errors } = buildTopology(g);
    const cycle = errors.find((e) => e.code === "cycle")!;
    expect(cycle).toBeDefined();
    // Data-flow order, closed: every consecutive pair is producer -> consumer.
    expect(cycle.path!.length).toBe(4);
    expect(cycle.path![0]).toBe(cycle.path![3]);
    expect(new Set(cycle.path!.slice(0, 3))).toEqual(new Set(["a", "b", "c"]));
    const producerOf: Record<string, string> = { a: "c", b: "a", c: "b" };
    for (let k = 0; k + 1 < cycle.path!.length; k++) {
      expect(producerOf[cycle.path![k + 1]!]).toBe(cycle.path![k]);
    }
    expect(cycle.message).toMatch(/^cycle: \w -> \w -> \w -> \w$/);
  });

  it("a wrong position hint on a reference falls back to the id", async () => {
    const g: Graph = {
      steps: [
        step("a", [], { action: { kind: "function", fn: () => 1 } }),
        step("b", [], { action: { kind: "function", fn: () => 2 } }),
        {
          ...step("c"),
          action: { kind: "function", fn: (x: number) => x * 10 },
          inputs: [{ kind: "ref", step: "b", at: 0 }],
        },
      ],
    };
    const { topology } = buildTopology(g);
    expect(Array.from(topology.depList)).toEqual([1]);
    const r = await runGraph(g, { outputs: ["c"] });
    expect(r.outputs.c).toBe(20);
  });

  it("reports a self-reference as a cycle", () => {
    const { errors } = buildTopology({ steps: [step("a", ["a"])] });
    expect(errors.map((e) => e.message)).toEqual(["cycle: a -> a"]);
  });

  it("reports unknown references with a suggestion and duplicate ids, all at once", () => {
    const g: Graph = {
      steps: [step("getUser"), step("getUser"), step("profile", ["getUsr", "nothingLikeIt"])],
    };
    const { errors } = validateGraph(g);
    expect(errors.map((e) => e.code).sort()).toEqual(["duplicate-id", "unknown-ref", "unknown-ref"]);
    const unknown = errors.filter((e) => e.code === "unknown-ref");
    expect(unknown[0]!.hint).toBe("did you mean getUser?");
    expect(unknown[1]!.hint).toBeUndefined();
  });

  it("rejects bad concurrency, rates, pools and options with actionable messages", () => {
    const g: Graph = {
      steps: [step("a", [], { options: { pool: "gpus", retries: -1, timeoutMs: 0 } })],
      pools: { gpu: 0 },
      limits: { m: { rate: { tokens: 0, perMs: 1000 }, concurrency: 0 } },
    };
    const messages = validateGraph(g, { concurrency: 0 }).errors.map(
      (e) => e.message + (e.hint ? ` (${e.hint})` : ""),
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        "concurrency must be a whole number of at least 1, got 0 (use -j 1 to run one step at a time)",
        'pool "gpu" needs a capacity of at least 1, got 0',
        "module m: concurrency must be a whole number of at least 1, got 0",
        "module m: a rate needs at least 1 call per period, got 0/1000ms (write it like 20/s or 100/1min)",
        "step a: retries must be a whole number of at least 0, got -1",
        "step a: timeout must be positive, got 0ms",
        'step a: unknown pool "gpus" (did you mean gpu?)',
      ]),
    );
  });

  it("the TS API rejects an invalid graph with every error, before running anything", async () => {
    let ran = false;
    const g: Graph = {
      steps: [step("a", ["b"], { action: { kind: "function", fn: () => (ran = true) } }), step("b", ["a"])],
    };
    const err = await runGraph(g).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidGraphError);
    expect((err as InvalidGraphError).errors[0]!.code).toBe("cycle");
    expect(ran).toBe(false);
    const t = flow();
    t.step("x", () => 1);
    await expect(t.run(undefined, { concurrency: -2 })).rejects.toThrow(/concurrency must be a whole number/);
  });
});

describe("topology helpers", () => {
  //   a   b
  //   |\ /
  //   c d
  //    \|
  //     e
  const g: Graph = {
    steps: [step("e", ["c", "d"]), step("a"), step("b"), step("c", ["a"]), step("d", ["a", "b"])],
  };
  const { topology, errors } = buildTopology(g);

  it("sorts topologically", () => {
    expect(errors).toEqual([]);
    const order = Array.from(toposort(topology)!).map((i) => topology.ids[i]);
    const pos = (id: string) => order.indexOf(id);
    expect(pos("a")).toBeLessThan(pos("c"));
    expect(pos("b")).toBeLessThan(pos("d"));
    expect(pos("d")).toBeLessThan(pos("e"));
    expect(order).toHaveLength(5);
  });

  it("computes layers and bottom levels", () => {
    const layer = layers(topology);
    const byId = (arr: ArrayLike<number>) => Object.fromEntries(topology.ids.map((id, i) => [id, arr[i]]));
    expect(byId(layer)).toEqual({ a: 0, b: 0, c: 1, d: 1, e: 2 });
    const weights = topology.ids.map((id) => ({ a: 1, b: 5, c: 1, d: 2, e: 1 })[id]!);
    expect(byId(bottomLevels(topology, weights))).toEqual({ a: 4, b: 8, c: 2, d: 3, e: 1 });
  });

  it("finds the ancestors of requested outputs", () => {
    const needed = ancestorsOf(topology, [topology.index.get("c")!]);
    expect(topology.ids.filter((_, i) => needed[i])).toEqual(["a", "c"]);
  });
});
