import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { eventually } from "../helpers/procs.js";
import { Cluster, fnStep, lit, ref } from "./cluster.js";

let cluster: Cluster;
const executors: RedisExecutor[] = [];

beforeAll(async () => {
  // No persistence: a restart loses every job, the worst case.
  cluster = await Cluster.start({ persistence: "none" });
  await Promise.all([cluster.worker(["-c", "2"]), cluster.worker(["-c", "2"])]);
});

afterAll(async () => {
  // The cluster is stopped even if closing an executor fails: no server or worker outlives the file.
  await Promise.allSettled(executors.map((e) => e.close()));
  await cluster?.stop();
});

const marks = () => {
  const f = join(cluster.root, "marks.log");
  return existsSync(f) ? readFileSync(f, "utf8") : "";
};

function fanIn(tags: string[], ms: number): Graph {
  const root = cluster.root;
  return {
    steps: [
      ...tags.map((t) => fnStep(root, t, "marked", [lit(t), lit(ms), lit(root)])),
      fnStep(root, "first", "add", [ref(tags[0]!, ["pid"]), lit(0)]),
    ],
  };
}

it("Redis restarted mid-run, losing its data: jobs are enqueued again and the run finishes", async () => {
  writeFileSync(join(cluster.root, "marks.log"), "");
  const warnings: string[] = [];
  const remote = await createRedisExecutor({
    url: cluster.url,
    projectRoot: cluster.root,
    checkIntervalMs: 500,
    onWarning: (m) => warnings.push(m),
  });
  executors.push(remote);
  const tags = ["r1", "r2", "r3", "r4"];
  const run = runGraph(fanIn(tags, 1500), { remote, root: cluster.root, concurrency: 8 });
  expect(await eventually(() => tags.every((t) => marks().includes(`${t} start`)), 10_000)).toBe(true);
  await cluster.redis.shutdown("SIGKILL");
  await new Promise((r) => setTimeout(r, 1000));
  await cluster.redis.restart();
  const result = await run;
  expect(result.ok).toBe(true);
  for (const t of tags) expect((result.steps.find((s) => s.id === t)!.value as { tag: string }).tag).toBe(t);
  // Every step whose job was lost was noticed and enqueued again (so each ran twice), none silently lost.
  expect(warnings.filter((w) => /vanished from Redis/.test(w)).length).toBe(4);
  for (const t of tags) expect(marks().split(`${t} start`).length - 1).toBe(2);
});

it("Redis down for longer than the limit: in-flight steps fail with a clear message, finished ones are kept", async () => {
  writeFileSync(join(cluster.root, "marks.log"), "");
  const remote = await createRedisExecutor({
    url: cluster.url,
    projectRoot: cluster.root,
    checkIntervalMs: 500,
    redisDownTimeoutMs: 2000,
  });
  executors.push(remote);
  const root = cluster.root;
  const graph: Graph = {
    steps: [
      fnStep(root, "quick", "marked", [lit("quick"), lit(10), lit(root)]),
      // After quick, so that quick is surely finished when Redis goes away.
      fnStep(root, "slow", "marked", [lit("slow"), lit(3000), lit(root), ref("quick")]),
      fnStep(root, "after", "add", [ref("slow", ["pid"]), ref("quick", ["pid"])]),
    ],
  };
  const run = runGraph(graph, { remote, root, concurrency: 4 });
  expect(await eventually(() => marks().includes("slow start"), 10_000)).toBe(true);
  await cluster.redis.shutdown("SIGKILL");
  const result = await run;
  await cluster.redis.restart();
  const status = Object.fromEntries(result.steps.map((s) => [s.id, s.status]));
  expect(status).toEqual({ quick: "ok", slow: "failed", after: "blocked" });
  const slow = result.steps.find((s) => s.id === "slow")!;
  expect(slow.error?.kind).toBe("infra");
  expect(slow.error?.message).toMatch(
    /^lost Redis at redis:\/\/127\.0\.0\.1:\d+: unreachable for \d+s with 1 step\(s\) in flight; finished steps are kept, run again to resume$/,
  );
});
