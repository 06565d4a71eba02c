/**
 * Remote workers whose checkout is not the orchestrator's: output files travel through the remote CAS
 * (a real nginx), steps through BullMQ (a real redis-server), workers are real `tributary worker`
 * processes and the orchestrator the built CLI.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cli, jsonEvents } from "../helpers/cli.js";
import { freePort, startNginx, type NginxServer } from "../helpers/servers.js";
import { Cluster } from "../distributed/cluster.js";

let cluster: Cluster;
let nginx: NginxServer;
beforeAll(async () => {
  [cluster, nginx] = await Promise.all([Cluster.start(), startNginx()]);
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), nginx?.stop()]);
});

const FLOW = [
  'a    = sh("tr a-z A-Z < ${file("in.txt")} > ${output("out/a.txt")}; pwd > ${output("out/where.txt")}")',
  'tool = sh("f=${output("bin/tool")}; printf \'#!/bin/sh\\\\necho hi\\\\n\' > \\"\\$f\\"; chmod 755 \\"\\$f\\"")',
  'b    = sh("cat ${a} > ${output("out/b.txt")}")',
  "out b, tool",
].join("\n");

/** A checkout with the flow's inputs (every machine has its own). */
function checkout(root: string): string {
  writeFileSync(join(root, "pipeline.flow"), FLOW + "\n");
  writeFileSync(join(root, "in.txt"), "made on a worker\n");
  return root;
}

async function runJson(root: string, args: string[]) {
  const r = await cli(["run", "--json", ...args], { cwd: root });
  const ends = jsonEvents(r.stdout).filter((e) => e.type === "step-end");
  return { ...r, ends };
}

it("outputs of a worker with its own checkout arrive in the orchestrator's project through the CAS", async () => {
  const url = `${nginx.url}/fleet`;
  const workerRoot = checkout(cluster.copyProject());
  const w = await cluster.worker(["--remote-cache", url, "-c", "2"], workerRoot);
  expect(w.log()).toContain(`output files go to the cache at ${url}`);
  const root = checkout(cluster.root);
  expect(root).not.toBe(workerRoot);

  const r = await runJson(root, ["--remote", cluster.url, "--remote-cache", url]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  expect(r.ends.map((e) => `${e.id}:${e.status}:${e.cached}`).sort()).toEqual([
    "a:ok:false",
    "b:ok:false",
    "tool:ok:false",
  ]);
  // They ran in the worker's checkout, and the files are in both projects, modes included.
  expect(readFileSync(join(root, "out/where.txt"), "utf8").trim()).toBe(workerRoot);
  // (b concatenates both files of a.)
  expect(readFileSync(join(root, "out/b.txt"), "utf8")).toBe(`MADE ON A WORKER\n${workerRoot}\n`);
  expect(readFileSync(join(workerRoot, "out/b.txt"), "utf8")).toBe(`MADE ON A WORKER\n${workerRoot}\n`);
  expect(statSync(join(root, "bin/tool")).mode & 0o777).toBe(0o755);

  // The orchestrator cached them (locally and on the remote): a new checkout restores all, no workers.
  const fresh = checkout(cluster.copyProject());
  const again = await runJson(fresh, ["--remote-cache", url]);
  expect(again.code, again.stderr).toBe(0);
  expect(again.ends.every((e) => e.cached)).toBe(true);
  expect(readFileSync(join(fresh, "out/where.txt"), "utf8").trim()).toBe(workerRoot);
});

it("a worker that cannot reach its cache fails the step with a clear infra error", async () => {
  const dead = `http://127.0.0.1:${await freePort()}/cache`;
  const workerRoot = checkout(cluster.copyProject());
  const w = await cluster.worker(["--remote-cache", dead, "--queue", "nocache"], workerRoot);
  expect(w.log()).toMatch(
    /warning: cannot reach the cache at .*: ECONNREFUSED; steps with output files will fail/,
  );
  const root = checkout(cluster.copyProject());
  const r = await runJson(root, [
    "--remote",
    cluster.url,
    "--queue",
    "nocache",
    "--remote-cache",
    nginx.url + "/other",
  ]);
  expect(r.code).toBe(1);
  const a = r.ends.find((e) => e.id === "a")!;
  expect(a.status).toBe("failed");
  expect(a.error.kind).toBe("infra");
  expect(a.error.message).toContain(
    `could not upload the outputs: cannot reach the cache at ${dead}: ECONNREFUSED`,
  );
});
