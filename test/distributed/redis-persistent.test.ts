import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { eventually } from "../helpers/procs.js";
import { Cluster, fnStep, lit, ref } from "./cluster.js";

let cluster: Cluster;
let remote: RedisExecutor;
const warnings: string[] = [];

beforeAll(async () => {
  // Append-only file, fsync on every write: what Redis acknowledged survives a kill -9.
  cluster = await Cluster.start({ persistence: "aof" });
  await Promise.all([cluster.worker(["-c", "2"]), cluster.worker(["-c", "2"])]);
  remote = await createRedisExecutor({
    url: cluster.url,
    projectRoot: cluster.root,
    checkIntervalMs: 500,
    onWarning: (m) => warnings.push(m),
  });
});

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

it("Redis killed and restarted with its data: the orchestrator and workers reconnect and the run finishes", async () => {
  const root = cluster.root;
  writeFileSync(join(root, "marks.log"), "");
  const marks = () =>
    existsSync(join(root, "marks.log")) ? readFileSync(join(root, "marks.log"), "utf8") : "";
  const tags = ["p1", "p2", "p3", "p4", "p5", "p6"];
  const graph: Graph = {
    steps: [
      ...tags.map((t) => fnStep(root, t, "marked", [lit(t), lit(1200), lit(root)])),
      fnStep(root, "total", "add", [ref("p1", ["pid"]), ref("p6", ["pid"])]),
    ],
  };
  const run = runGraph(graph, { remote, root, concurrency: 8 });
  // Four run, two wait in Redis, when Redis goes down.
  expect(await eventually(() => (marks().match(/ start /g) ?? []).length >= 4, 10_000)).toBe(true);
  await cluster.redis.shutdown("SIGKILL");
  await new Promise((r) => setTimeout(r, 500));
  await cluster.redis.restart();
  const result = await run;
  expect(result.ok).toBe(true);
  for (const t of tags) expect((result.steps.find((s) => s.id === t)!.value as { tag: string }).tag).toBe(t);
  // Nothing was lost, so nothing had to be enqueued again.
  expect(warnings).toEqual([]);
});
