import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bullmq";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RemoteTask } from "../../src/executors/remote/task.js";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { eventually, processesMatching, uniqueSleep } from "../helpers/procs.js";
import { Cluster, lit, procStep } from "./cluster.js";

let cluster: Cluster;
let remote: RedisExecutor;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.worker(["-c", "1"]);
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
});

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

it("cancelling a run kills the step's process on the worker and removes steps still queued", async () => {
  const running = uniqueSleep();
  const queued = uniqueSleep();
  const graph: Graph = {
    steps: [
      procStep("long", [lit("sh"), lit("-c"), lit(`sleep ${running}; echo never`)], { priority: 1 }),
      procStep("waiting", [lit("sleep"), lit(queued)]),
    ],
  };
  const controller = new AbortController();
  const run = runGraph(graph, {
    remote,
    root: cluster.root,
    concurrency: 4,
    signal: controller.signal,
  });
  // The worker runs one step at a time: "long" (higher priority) runs, "waiting" waits in Redis.
  expect(await eventually(() => processesMatching(`sleep ${running}`).length > 0, 10_000)).toBe(true);
  expect(remote.jobsInFlight().size).toBe(2);
  controller.abort();
  const result = await run;
  expect(result.cancelled).toBe(true);
  expect(result.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
  // The run ended only once the worker had stopped the process (SIGTERM to its group), and did not wait for
  // it: its sleep lasts 300 s or more, far beyond this test's timeout.
  expect(processesMatching(`sleep ${running}`)).toEqual([]);
  // The queued step never started, and nothing is left in Redis for a worker to pick up later.
  await new Promise((r) => setTimeout(r, 300));
  expect(processesMatching(`sleep ${queued}`)).toEqual([]);
  const q = new Queue("tributary", { connection: { url: cluster.url } });
  const counts = await q.getJobCounts("wait", "prioritized", "active", "delayed");
  await q.close();
  expect(counts).toEqual({ wait: 0, prioritized: 0, active: 0, delayed: 0 });
});

it("a remote step's timeout kills its process on the worker", async () => {
  const s = uniqueSleep();
  const graph: Graph = { steps: [procStep("slow", [lit("sleep"), lit(s)], { timeoutMs: 800 })] };
  const result = await runGraph(graph, { remote, root: cluster.root });
  const step = result.steps[0]!;
  expect(step.status).toBe("failed");
  expect(step.error?.kind).toBe("timeout");
  expect(step.error?.message).toBe("timed out after 800ms");
  expect(await eventually(() => processesMatching(`sleep ${s}`).length === 0)).toBe(true);
});

it("orders jobs waiting in Redis by priority, higher first, when the worker is busy", async () => {
  const root = cluster.root;
  writeFileSync(join(root, "marks.log"), "");
  const marks = () =>
    existsSync(join(root, "marks.log")) ? readFileSync(join(root, "marks.log"), "utf8") : "";
  const signal = new AbortController().signal;
  const task = (id: string, ms: number, priority: number): RemoteTask => ({
    stepId: id,
    attempt: 1,
    module: "marked",
    action: { kind: "function", ref: { file: join(root, "modules.ts"), exportName: "marked" } },
    args: [id, ms, root],
    outputs: [],
    priority,
  });
  // The only slot is busy; six more steps wait in Redis, enqueued in an order unrelated to priority.
  const blocker = remote.runTask(task("blocker", 1000, 0), signal);
  expect(await eventually(() => marks().includes("blocker start"), 10_000)).toBe(true);
  const queued = [-5, 0, 1, 2, 10, 3].map((p) => remote.runTask(task(`p${p}`, 1, p), signal));
  const outcomes = await Promise.all([blocker, ...queued]);
  expect(outcomes.every((o) => o.ok)).toBe(true);
  const order = marks()
    .trim()
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((t) => t !== "blocker");
  expect(order).toEqual(["p10", "p3", "p2", "p1", "p0", "p-5"]);
});
