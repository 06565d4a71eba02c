import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { Cluster, fnStep, lit, procStep } from "./cluster.js";

/** One worker whose checkout is not the orchestrator's: another copy, with other code and data. */
let cluster: Cluster;
let remote: RedisExecutor;
let elsewhere: string;

beforeAll(async () => {
  cluster = await Cluster.start();
  writeFileSync(join(cluster.root, "data.txt"), "orchestrator's data\n");
  elsewhere = cluster.copyProject();
  const modules = join(elsewhere, "modules.ts");
  writeFileSync(modules, readFileSync(modules, "utf8").replace('"original"', '"edited"'));
  writeFileSync(join(elsewhere, "data.txt"), "stale data\n");
  await cluster.worker(["-c", "2"], elsewhere);
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
});

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

it("a worker with different module code refuses the step with a clear error", async () => {
  const graph: Graph = { steps: [fnStep(cluster.root, "sum", "add", [lit(1), lit(2)])] };
  const result = await runGraph(graph, { remote, root: cluster.root });
  const step = result.steps[0]!;
  expect(step.status).toBe("failed");
  expect(step.error?.kind).toBe("infra");
  expect(step.error?.message).toMatch(
    /^worker [^ ]+:\d+ has different code for modules\.ts \(digest [0-9a-f]{12}… vs [0-9a-f]{12}… on the orchestrator\): update its checkout$/,
  );
});

it("a worker that sees other content for an input file refuses the step", async () => {
  const graph: Graph = {
    steps: [procStep("show", [lit("cat"), { kind: "file", path: { kind: "lit", value: "data.txt" } }])],
  };
  const result = await runGraph(graph, { remote, root: cluster.root });
  const step = result.steps[0]!;
  expect(step.status).toBe("failed");
  expect(step.error?.kind).toBe("infra");
  expect(step.error?.message).toMatch(
    /^worker [^ ]+:\d+ sees different content for the input data\.txt \(digest [0-9a-f]{12}… vs [0-9a-f]{12}… on the orchestrator\): share the project directory/,
  );
});

it("an output written where the orchestrator cannot see it fails the step instead of passing a wrong file on", async () => {
  const graph: Graph = {
    steps: [
      procStep("gen", [
        lit("sh"),
        lit("-c"),
        lit('echo hi > "$1"'),
        lit("sh"),
        { kind: "output", path: "gen.txt" },
      ]),
    ],
  };
  const result = await runGraph(graph, { remote, root: cluster.root });
  const step = result.steps[0]!;
  expect(step.status).toBe("failed");
  expect(step.error?.kind).toBe("infra");
  expect(step.error?.message).toMatch(
    /^worker [^ ]+:\d+ wrote gen\.txt, but the orchestrator does not see it under .+: share the project directory with the workers/,
  );
});
