import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import { Cluster, fnStep, lit, procStep } from "./cluster.js";

const here = dirname(fileURLToPath(import.meta.url));
function cli(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(here, "fixtures", "worker-cli.ts"), "worker", ...args],
    {
      cwd: resolve(here, "..", ".."),
      env: { ...process.env, TRIBUTARY_REDIS: "" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => child.on("close", (status) => res({ status, stderr })));
}

let cluster: Cluster | undefined;
let remote: RedisExecutor | undefined;

afterAll(async () => {
  // The cluster is stopped even if closing the executor fails: no server or worker outlives the file.
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
});

it("tributary worker explains a missing or malformed --redis", async () => {
  const [none, bad, conc] = await Promise.all([
    cli(),
    cli("--redis", "http://localhost:6379"),
    cli("--redis", "redis://127.0.0.1:1", "-c", "0"),
  ]);
  expect(none.status).toBe(2);
  expect(none.stderr).toContain("tributary worker needs --redis redis://host:port (or $TRIBUTARY_REDIS)");
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--redis needs a redis:// or rediss:// URL, got "http://localhost:6379"');
  expect(conc.stderr).toContain('--concurrency needs a whole number of at least 1, got "0"');
});

it("a worker started with --no-process-steps runs function steps but refuses commands", async () => {
  cluster = await Cluster.start();
  await cluster.worker(["--no-process-steps"]);
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
  const result = await runGraph(
    {
      steps: [procStep("cmd", [lit("echo"), lit("hi")]), fnStep(cluster.root, "fn", "add", [lit(1), lit(1)])],
    },
    { remote, root: cluster.root },
  );
  const [cmd, fn] = result.steps;
  expect(fn!.value).toBe(2);
  expect(cmd!.status).toBe("failed");
  expect(cmd!.error?.message).toMatch(
    /^worker [^ ]+:\d+ does not run commands \(it was started with --no-process-steps\)$/,
  );
});
