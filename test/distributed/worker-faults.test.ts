import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { eventually, processesMatching, uniqueSleep } from "../helpers/procs.js";
import { Cluster, fnStep, lit, procStep, ref } from "./cluster.js";

let cluster: Cluster;
let remote: RedisExecutor;

beforeAll(async () => {
  cluster = await Cluster.start();
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
});

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

const marks = () =>
  existsSync(join(cluster.root, "marks.log")) ? readFileSync(join(cluster.root, "marks.log"), "utf8") : "";

it("re-runs the steps of a worker killed with kill -9 on another worker, within seconds", async () => {
  const root = cluster.root;
  const first = await cluster.worker(["-c", "2"]);
  const sleep = uniqueSleep().replace(/^\d+/, "0");
  const graph: Graph = {
    steps: [
      // Held until the second worker is up (a slow machine takes seconds to start one).
      fnStep(root, "slow", "gated", [lit("slow"), lit("go"), lit(root)]),
      procStep("proc", [
        lit("sh"),
        lit("-c"),
        lit(
          `echo "proc start $PPID" >> marks.log; while [ ! -e go ]; do sleep ${sleep}; done; printf "built by %s %s" "$PPID" "$(cut -d" " -f4 /proc/$PPID/stat)" > "$1"`,
        ),
        lit("sh"),
        { kind: "output", path: "out/proc.txt" },
      ]),
      fnStep(root, "sum", "add", [ref("slow", ["pid"]), lit(0)]),
    ],
  };
  const run = runGraph(graph, { remote, root, concurrency: 4 });
  // Both steps are running on the first worker; start a second one, then kill the first.
  expect(await eventually(() => /slow start/.test(marks()) && /proc start/.test(marks()), 15_000)).toBe(true);
  const second = await cluster.worker(["-c", "2"]);
  first.kill("SIGKILL");
  const killedAt = Date.now();
  writeFileSync(join(root, "go"), "");
  // The first worker's command is gone with it, long before its sleep would have ended.
  expect(await eventually(() => processesMatching(`sleep ${sleep}`).length === 0, 1000)).toBe(true);
  const result = await run;
  const recoveryMs = Date.now() - killedAt;
  expect(result.ok).toBe(true);
  const value = (id: string) => result.steps.find((s) => s.id === id)!.value;
  expect((value("slow") as { pid: number }).pid).toBe(second.pid);
  expect(value("sum")).toBe(second.pid);
  // Its parent (or its parent's parent, with the job server in between) is the second worker.
  expect(readFileSync(join(root, "out/proc.txt"), "utf8").split(" ").slice(2)).toContain(String(second.pid));
  // Lock 1.5 s + stalled checks every 0.5 s + the 3 s steps themselves.
  expect(recoveryMs).toBeLessThan(9000);
  console.log(`recovered from kill -9 in ${recoveryMs} ms (3 s of it the steps themselves)`);
  expect(marks()).toMatch(new RegExp(`slow start ${second.pid}`));
  // The killed worker's reaper took its command down with it: only the re-run's sleep ever ran after.
  expect(await eventually(() => processesMatching(`sleep ${sleep}`).length === 0, 2000)).toBe(true);
});

it("a worker stopped with SIGTERM finishes its running step within the grace period, then exits", async () => {
  await cluster.stopWorkers();
  const root = cluster.root;
  const w = await cluster.worker(["-c", "1", "--grace", "10"]);
  const graph: Graph = {
    steps: [fnStep(root, "finishing", "marked", [lit("finishing"), lit(1000), lit(root)])],
  };
  const run = runGraph(graph, { remote, root });
  expect(await eventually(() => marks().includes(`finishing start ${w.pid}`), 10_000)).toBe(true);
  w.kill("SIGTERM");
  const result = await run;
  expect(result.ok).toBe(true);
  expect((result.steps[0]!.value as { pid: number }).pid).toBe(w.pid);
  expect(await w.exited).toEqual({ code: 0, signal: null });
});

it("a worker stopped with SIGTERM returns a step that outlasts the grace period to the queue for another worker", async () => {
  await cluster.stopWorkers();
  const root = cluster.root;
  const leaving = await cluster.worker(["-c", "1", "--grace", "0.3"]);
  const graph: Graph = { steps: [fnStep(root, "handed", "marked", [lit("handed"), lit(2000), lit(root)])] };
  const run = runGraph(graph, { remote, root });
  expect(await eventually(() => marks().includes(`handed start ${leaving.pid}`), 10_000)).toBe(true);
  leaving.kill("SIGTERM");
  expect(await leaving.exited).toEqual({ code: 0, signal: null });
  expect(leaving.log()).toMatch(/returned handed \(job [^)]+\) to the queue/);
  const taker = await cluster.worker(["-c", "1"]);
  const result = await run;
  expect(result.ok).toBe(true);
  expect((result.steps[0]!.value as { pid: number }).pid).toBe(taker.pid);
});
