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

it("re-runs the steps of a worker killed with kill -9 on another worker; its command dies with it", async () => {
  const root = cluster.root;
  const first = await cluster.worker(["-c", "2"]);
  // Both steps wait for this file, so that they are still running on the first worker when it is killed
  // (and the command, had it survived its worker, would be seen going on once the file is there).
  const release = `release-${uniqueSleep()}`;
  const graph: Graph = {
    steps: [
      fnStep(root, "slow", "markedUntil", [lit("slow"), lit(release), lit(root)]),
      procStep("proc", [
        lit("sh"),
        lit("-c"),
        lit(
          // Who started it: its parent and grandparent (a worker starts commands itself or through its job server).
          `w="$PPID/$(cut -d" " -f4 /proc/$PPID/stat)"; echo "proc start $w" >> marks.log; ` +
            `until [ -e ${release} ]; do sleep 0.02; done; echo "proc end $w" >> marks.log; printf "built by %s" "$w" > "$1"`,
        ),
        lit("sh"),
        { kind: "output", path: "out/proc.txt" },
      ]),
      fnStep(root, "sum", "add", [ref("slow", ["pid"]), lit(0)]),
    ],
  };
  const run = runGraph(graph, { remote, root, concurrency: 4 });
  // Both steps are running on the first worker; start a second one, then kill the first.
  expect(await eventually(() => /slow start/.test(marks()) && /proc start/.test(marks()))).toBe(true);
  const second = await cluster.worker(["-c", "2"]);
  first.kill("SIGKILL");
  // The killed worker's reaper takes its command down with it (it would otherwise wait for the file).
  expect(await eventually(() => processesMatching(release).length === 0)).toBe(true);
  writeFileSync(join(root, release), "");
  const result = await run;
  expect(result.ok).toBe(true);
  const value = (id: string) => result.steps.find((s) => s.id === id)!.value;
  expect((value("slow") as { pid: number }).pid).toBe(second.pid);
  expect(value("sum")).toBe(second.pid);
  const by = (pid: number) => new RegExp(`(^|/| )${pid}($|/|\\n)`, "m");
  expect(readFileSync(join(root, "out/proc.txt"), "utf8")).toMatch(by(second.pid));
  expect(marks()).toContain(`slow start ${second.pid}`);
  const lines = marks().split("\n");
  expect(lines.filter((l) => l.startsWith("proc start")).some((l) => by(first.pid).test(l))).toBe(true);
  expect(lines.filter((l) => l.startsWith("proc end")).some((l) => by(second.pid).test(l))).toBe(true);
  expect(lines.filter((l) => l.startsWith("proc end")).some((l) => by(first.pid).test(l))).toBe(false);
  // How long recovery takes (lock expiry, stalled checks) is measured by `npm run bench` (remote).
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
