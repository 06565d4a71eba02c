/** The Project API through the package's entry point: what the CLI does, a TS program can do. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  InvalidFlowError,
  cacheStats,
  flow,
  openCache,
  openProject,
  runGraph,
  type EngineEvent,
} from "../../src/index.js";
import { cleanup, project } from "../language/helpers.js";

afterAll(cleanup);

const FLOW = `
in name: String = "world"
greeting = sh("printf 'hello %s' \${name} > \${output("out/greeting.txt")}")
shout    = sh("tr a-z A-Z < \${greeting}")
out shout
`;

describe("openProject on a flow file", () => {
  it("runs with the cache, then answers an unchanged rerun from the record without running anything", async () => {
    const root = project({ "pipeline.flow": FLOW });
    const first = await openProject({ flow: join(root, "pipeline.flow") }).run();
    expect(first.ok).toBe(true);
    expect(first.noOp).toBe(false);
    expect(first.outputs).toEqual({ shout: "HELLO WORLD" });
    expect(first.declaredOutputs).toEqual(["shout"]);
    expect(readFileSync(join(root, "out/greeting.txt"), "utf8")).toBe("hello world");
    // History and the cache live in the project's state directory.
    expect(existsSync(join(root, ".tributary/history.json"))).toBe(true);
    expect((await cacheStats(join(root, ".tributary/cache"))).entries).toBe(2);

    const events: EngineEvent[] = [];
    const again = await openProject({ flow: join(root, "pipeline.flow") }).run({
      onEvent: (e) => events.push(e),
    });
    expect(again.noOp).toBe(true);
    expect(again.outputs).toEqual({ shout: "HELLO WORLD" });
    expect(again.summary).toMatchObject({ total: 2, cached: 2, ok: 0 });
    // Reporters still hear how the run ended.
    expect(events.map((e) => e.type)).toEqual(["run-end"]);
    const why = await openProject({ flow: join(root, "pipeline.flow") }).explain("shout");
    expect(why).toMatchObject({ decision: "restored", cause: "no-op-run" });
  });

  it("reruns only what an input change affects, and explains why", async () => {
    const root = project({ "pipeline.flow": FLOW });
    const file = join(root, "pipeline.flow");
    await openProject({ flow: file }).run();
    const r = await openProject({ flow: file, inputs: { name: "there" } }).run();
    expect(r.noOp).toBe(false);
    expect(r.outputs).toEqual({ shout: "HELLO THERE" });
    expect(r.steps.filter((s) => s.cached).map((s) => s.id)).toEqual([]);
    const why = await openProject({ flow: file }).explain("greeting");
    expect(why.decision).toBe("ran");
    expect(why.cause).toBe("changed");
  });

  it("plans from the cache: after a run every step is cached", async () => {
    const root = project({ "pipeline.flow": FLOW });
    const p = openProject({ flow: join(root, "pipeline.flow") });
    expect((await p.plan()).steps.map((s) => s.status)).toEqual(["run", "run"]);
    await p.run();
    expect((await p.plan()).steps.map((s) => s.status)).toEqual(["cached", "cached"]);
  });

  it("reports every error of an invalid flow at once, as values", async () => {
    const root = project({ "pipeline.flow": "a = sh(missing)\nb = nope(a)\n" });
    const err = await openProject({ flow: join(root, "pipeline.flow") })
      .run()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidFlowError);
    const diagnostics = (err as InvalidFlowError).diagnostics;
    expect(diagnostics.length).toBeGreaterThanOrEqual(2);
    expect(diagnostics.every((d) => d.line >= 1)).toBe(true);
  });

  it("with cache: false reads and writes nothing", async () => {
    const root = project({ "pipeline.flow": FLOW });
    const r = await openProject({ flow: join(root, "pipeline.flow"), cache: false }).run();
    expect(r.ok).toBe(true);
    expect(existsSync(join(root, ".tributary/cache"))).toBe(false);
  });
});

describe("openProject on a graph from the builder", () => {
  it("gets the same cached, history-aware runs", async () => {
    const root = project({ "in.txt": "abc" });
    const calls: string[] = [];
    const make = () => {
      const t = flow();
      const up = t.sh("up")`tr a-z A-Z < ${t.file("in.txt")}`;
      t.step({ id: "len", version: "1" }, (s: string) => (calls.push(s), s.length), up);
      return t.graph();
    };
    const first = await openProject({ graph: make(), root }).run();
    expect(first.outputs).toEqual({ len: 3 });
    const second = await openProject({ graph: make(), root }).run();
    expect(second.steps.every((s) => s.cached)).toBe(true);
    expect(calls).toEqual(["ABC"]);
    writeFileSync(join(root, "in.txt"), "abcd");
    const third = await openProject({ graph: make(), root }).run();
    expect(third.outputs).toEqual({ len: 4 });
  });
});

describe("the cache API from the package entry point", () => {
  it("openCache gives runGraph a cache: the second run restores every step", async () => {
    const root = project({});
    const t = flow();
    t.exec("stamp", ["sh", "-c", "echo $$"]);
    const cache = await openCache({ root });
    const a = await runGraph(t.graph(), { root, cache });
    await cache.close();
    const again = await openCache({ root });
    const b = await runGraph(t.graph(), { root, cache: again });
    await again.close();
    expect(b.steps[0]!.cached).toBe(true);
    expect(b.outputs.stamp).toBe(a.outputs.stamp);
  });
});
