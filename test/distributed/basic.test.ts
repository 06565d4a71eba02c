import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { Cluster, fnStep, lit, procStep, ref, type WorkerProcess } from "./cluster.js";

let cluster: Cluster;
let remote: RedisExecutor;
let workers: WorkerProcess[];

beforeAll(async () => {
  cluster = await Cluster.start();
  workers = await Promise.all([cluster.worker(["-c", "4"]), cluster.worker(["-c", "4"])]);
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
});

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

describe("steps on remote workers", () => {
  it("runs function and process steps on the worker processes, passing values between them", async () => {
    const root = cluster.root;
    const graph: Graph = {
      steps: [
        fnStep(root, "a", "add", [lit(2), lit(3)]),
        fnStep(root, "b", "add", [ref("a"), lit(10)]),
        ...[1, 2, 3, 4, 5, 6].map((k) => fnStep(root, `who${k}`, "whoami", [lit(`w${k}`)])),
        procStep("echo", [
          lit("sh"),
          lit("-c"),
          // The parent, and its parent: a worker starts commands itself or through its job server.
          lit('echo "$0 $PPID $(cut -d" " -f4 /proc/$PPID/stat)"'),
          ref("b"),
        ]),
      ],
    };
    const result = await runGraph(graph, { remote, root, concurrency: 8 });
    expect(result.ok).toBe(true);
    const value = (id: string) => result.steps.find((s) => s.id === id)!.value;
    expect(value("b")).toBe(15);
    const pids = new Set(workers.map((w) => w.pid));
    for (let k = 1; k <= 6; k++) {
      const v = value(`who${k}`) as { pid: number; tag: string };
      expect(v.tag).toBe(`w${k}`);
      expect(pids.has(v.pid)).toBe(true);
    }
    // The command was started by a worker, and it got b's value as its argument.
    const [arg, parent, grandparent] = String(value("echo")).split(" ");
    expect(arg).toBe("15");
    expect(pids.has(Number(parent)) || pids.has(Number(grandparent))).toBe(true);
  });

  it("keeps a module's concurrency limit across two workers, and runs higher priorities first", async () => {
    const root = cluster.root;
    writeFileSync(join(root, "stamps.log"), "");
    const steps = Array.from({ length: 16 }, (_, k) =>
      fnStep(root, `s${k}`, "stamped", [lit(`s${k}`), lit(150), lit(root)], { priority: k }, "Slow"),
    );
    const graph: Graph = { steps, limits: { Slow: { concurrency: 2 } } };
    const result = await runGraph(graph, { remote, root, concurrency: 8 });
    expect(result.ok).toBe(true);
    const rows = readFileSync(join(root, "stamps.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .map(([tag, start, end, pid]) => ({
        tag: tag!,
        start: Number(start),
        end: Number(end),
        pid: Number(pid),
      }));
    expect(rows).toHaveLength(16);
    // At most 2 overlap at any instant.
    for (const r of rows) {
      const overlapping = rows.filter((o) => o.start <= r.start && o.end > r.start);
      expect(overlapping.length).toBeLessThanOrEqual(2);
    }
    // Both workers took part (one of them taking all 16 would be a 1 in 30,000 event).
    expect(new Set(rows.map((r) => r.pid))).toEqual(new Set(workers.map((w) => w.pid)));
    // Highest priority first: s15 and s14 start before s1 and s0.
    const startOf = (t: string) => rows.find((r) => r.tag === t)!.start;
    expect(startOf("s15")).toBeLessThan(startOf("s1"));
    expect(startOf("s14")).toBeLessThan(startOf("s0"));
  });

  it("reports a failed step's exit code and the tail of its output", async () => {
    const graph: Graph = {
      steps: [
        procStep("bad", [
          lit("sh"),
          lit("-c"),
          lit("echo compiling; echo 'error: no such thing' >&2; exit 3"),
        ]),
        procStep("after", [lit("echo"), ref("bad")]),
        fnStep(cluster.root, "boom", "explode", [lit("on purpose")]),
      ],
    };
    const result = await runGraph(graph, { remote, root: cluster.root, concurrency: 4 });
    expect(result.ok).toBe(false);
    const bad = result.steps.find((s) => s.id === "bad")!;
    expect(bad.status).toBe("failed");
    expect(bad.error?.kind).toBe("exit");
    expect(bad.error?.exitCode).toBe(3);
    expect(bad.error?.message).toMatch(/exited with code 3 \(on worker .+:\d+\)/);
    expect(bad.outputTail).toContain("compiling");
    expect(bad.outputTail).toContain("error: no such thing");
    expect(result.steps.find((s) => s.id === "after")!.status).toBe("blocked");
    const boom = result.steps.find((s) => s.id === "boom")!;
    expect(boom.error?.kind).toBe("threw");
    expect(boom.error?.message).toContain("exploded: on purpose");
  });

  it("writes declared output files in the shared directory and returns their digests", async () => {
    const graph: Graph = {
      steps: [
        procStep("gen", [
          lit("sh"),
          lit("-c"),
          lit('printf "hello %s" "$1" > "$2"'),
          lit("sh"),
          lit("world"),
          { kind: "output", path: "out/gen.txt" },
        ]),
        procStep("cat", [lit("cat"), ref("gen")]),
      ],
    };
    const result = await runGraph(graph, { remote, root: cluster.root, concurrency: 4 });
    expect(result.ok).toBe(true);
    const gen = result.outputs.cat;
    expect(gen).toBe("hello world");
    const file = result.steps.find((s) => s.id === "gen")!.value as { $file: string; digest: string };
    expect(file.$file).toBe("out/gen.txt");
    expect(file.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("streams a remote step's output to the engine's events", async () => {
    const chunks: string[] = [];
    const graph: Graph = {
      steps: [procStep("talk", [lit("sh"), lit("-c"), lit("echo one; sleep 0.2; echo two >&2")])],
    };
    const result = await runGraph(graph, {
      remote,
      root: cluster.root,
      liveOutput: true,
      onEvent: (e) => {
        if (e.type === "step-output") chunks.push(`${e.stream}:${e.chunk}`);
      },
    });
    expect(result.ok).toBe(true);
    expect(chunks.join("")).toContain("stdout:one");
    expect(chunks.join("")).toContain("stderr:two");
  });

  it("runs a thread: true function step in a worker thread of a worker", async () => {
    const step = fnStep(cluster.root, "t", "threadInfo");
    step.action = {
      kind: "function",
      thread: true,
      ref: (step.action as { ref: { file: string; exportName: string } }).ref,
    };
    const result = await runGraph({ steps: [step] }, { remote, root: cluster.root });
    const v = result.steps[0]!.value as { pid: number; threadId: number };
    expect(workers.map((w) => w.pid)).toContain(v.pid);
    expect(v.threadId).toBeGreaterThan(0);
  });

  it("keeps undefined as undefined, drops undefined fields, and refuses a value that cannot travel back", async () => {
    const root = cluster.root;
    const graph: Graph = {
      steps: [
        fnStep(root, "nothing", "nothing"),
        fnStep(root, "kind", "typeOf", [ref("nothing")]),
        fnStep(root, "sparse", "sparse"),
        fnStep(root, "map", "aMap"),
      ],
    };
    const result = await runGraph(graph, { remote, root });
    const step = (id: string) => result.steps.find((s) => s.id === id)!;
    expect(step("kind").value).toBe("undefined");
    expect(step("sparse").value).toEqual({ a: 1 });
    expect(step("map").status).toBe("failed");
    expect(step("map").error?.kind).toBe("value");
    expect(step("map").error?.message).toMatch(
      /^its value cannot travel back from worker [^ ]+:\d+: value is an instance of Map; return plain data \(JSON\)$/,
    );
  });

  it("refuses a value that is not plain data before sending it", async () => {
    const graph: Graph = {
      steps: [fnStep(cluster.root, "odd", "add", [lit(new Map()), lit(1)])],
    };
    const result = await runGraph(graph, { remote, root: cluster.root });
    const odd = result.steps[0]!;
    expect(odd.status).toBe("failed");
    expect(odd.error?.kind).toBe("value");
    expect(odd.error?.message).toMatch(
      /cannot send its inputs to a remote worker: input\[0\] is an instance of Map/,
    );
  });
});
