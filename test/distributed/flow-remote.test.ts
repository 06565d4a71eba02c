import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

it("tributary run --remote sends a flow's module and command steps to the workers", async () => {
  cluster = await Cluster.start();
  await cluster.worker(["-c", "2"]);
  const root = cluster.root;
  writeFileSync(
    join(root, "pipeline.flow"),
    [
      'use "./modules.ts"',
      'a = whoami("a")',
      'b = whoami("b")',
      "sum = add(2, 3)",
      'pid = sh("echo $PPID")',
      "out a, b, sum, pid",
    ].join("\n") + "\n",
  );
  const r = await cli(["run", "--remote", cluster.url, "--no-cache", "--json"], { cwd: root });
  expect(r.code, r.stderr).toBe(0);
  const end = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((e) => e.type === "run-end");
  const workerPid = cluster.workers[0]!.pid;
  expect(end.outputs.sum).toBe(5);
  // Module steps ran inside the worker process, the command was its child: none ran in the CLI.
  expect(end.outputs.a.pid).toBe(workerPid);
  expect(end.outputs.b.pid).toBe(workerPid);
  expect(Number(end.outputs.pid)).not.toBe(0);
});
