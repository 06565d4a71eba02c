/**
 * Distributed execution: the overhead of a remote step beside raw BullMQ, the speed-up of a sleep DAG
 * from 1 to 4 workers, and how soon a step of a worker killed with kill -9 runs again on another. Starts its own redis-server and worker processes; returns a markdown table.
 *
 *     node --import tsx bench/remote.ts [--quick]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runGraph } from "../src/project/run-graph.js";
import { createRedisExecutor } from "../src/executors/remote/index.js";
import type { Graph, Step } from "../src/graph/ir.js";
import { tempDir } from "../test/helpers/procs.js";
import { startRedis, type RedisServer } from "../test/helpers/servers.js";
import { prng } from "./util.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WORKER_CLI = join(REPO, "test", "distributed", "fixtures", "worker-cli.ts");

/** BullMQ settings both kinds of worker share, so that only what Tributary adds differs. */
const LOCK_MS = 5000;
const STALLED_MS = 2000;

interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startProc(args: string[], ready: RegExp, env?: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"], env });
  let text = "";
  child.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const end = Date.now() + 30_000;
  while (!ready.test(text)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`worker did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

function tributaryWorker(url: string, root: string, concurrency: number): Promise<Proc> {
  const args = [
    "--import",
    "tsx",
    WORKER_CLI,
    "worker",
    "--redis",
    url,
    "--root",
    root,
    "-c",
    String(concurrency),
  ];
  args.push("--lock-duration", String(LOCK_MS), "--stalled-interval", String(STALLED_MS));
  return startProc(args, / ready: /);
}

/** A plain BullMQ worker with a no-op processor and the same settings. */
function rawWorker(url: string, queue: string, concurrency: number): Promise<Proc> {
  const script = `
    import { Worker } from "bullmq";
    const w = new Worker(${JSON.stringify(queue)}, async () => null, {
      connection: { url: ${JSON.stringify(url)} }, concurrency: ${concurrency},
      lockDuration: ${LOCK_MS}, stalledInterval: ${STALLED_MS}, drainDelay: 1, autorun: false,
    });
    await w.waitUntilReady();
    w.run();
    process.stderr.write("raw ready\\n");
    process.on("SIGTERM", () => w.close().then(() => process.exit(0)));
  `;
  return startProc(["--input-type=module", "-e", script], /raw ready/);
}

/**
 * Raw BullMQ: add `n` no-op jobs and wait for all: each with its own add (as the orchestrator does), or
 * in one addBulk (BullMQ's fastest way in, which a dataflow engine cannot use: it learns of ready steps
 * one completion at a time). Connections are opened once, outside the measurements.
 */
async function rawProducer(url: string, queue: string) {
  const { Queue, QueueEvents } = await import("bullmq");
  const q = new Queue(queue, { connection: { url } });
  const events = new QueueEvents(queue, { connection: { url } });
  await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
  await new Promise((r) => setTimeout(r, 200));
  let done = 0;
  let target = Infinity;
  let finish = () => {};
  events.on("completed", () => {
    if (++done === target) finish();
  });
  const opts = { removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } };
  return {
    run: async (n: number, bulk = false) => {
      done = 0;
      target = n;
      const all = new Promise<void>((r) => (finish = r));
      if (bulk) await q.addBulk(Array.from({ length: n }, (_, k) => ({ name: "noop", data: { k }, opts })));
      else await Promise.all(Array.from({ length: n }, (_, k) => q.add("noop", { k }, opts)));
      await all;
    },
    close: async () => {
      await events.close();
      await q.obliterate({ force: true });
      await q.close();
    },
  };
}

/** Mulberry32: the same DAG every run. */

/** 200 `sleep` commands of 10–100 ms, each depending on up to 2 of the 12 before it. */
export function sleepDag(n = 200): { graph: Graph; workMs: number; criticalMs: number } {
  const rand = prng(3);
  const steps: Step[] = [];
  const ms: number[] = [];
  const finish: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = 10 + Math.floor(rand() * 91);
    const deps = new Set<number>();
    const k = i === 0 ? 0 : Math.floor(rand() * 3);
    for (let j = 0; j < k; j++) deps.add(Math.max(0, i - 1 - Math.floor(rand() * 12)));
    const inputs: Step["inputs"] = [
      { kind: "lit", value: "sleep" },
      { kind: "lit", value: (d / 1000).toFixed(3) },
    ];
    // Dependencies are data: pass each one's (empty) value as an extra, ignored, argument to `sh -c`.
    const depIds = [...deps].map((j) => `n${j}`);
    const argv: Step["inputs"] =
      depIds.length === 0
        ? inputs
        : [
            { kind: "lit", value: "sh" },
            { kind: "lit", value: "-c" },
            { kind: "lit", value: `sleep ${(d / 1000).toFixed(3)}` },
            { kind: "lit", value: "sh" },
            ...depIds.map((id) => ({ kind: "ref" as const, step: id })),
          ];
    steps.push({
      id: `n${i}`,
      module: "sleep",
      action: { kind: "process" },
      inputs: argv,
      options: { estimateMs: d },
    });
    ms.push(d);
    finish.push(d + Math.max(0, ...[...deps].map((j) => finish[j]!)));
  }
  return { graph: { steps }, workMs: ms.reduce((a, b) => a + b, 0), criticalMs: Math.max(...finish) };
}

/**
 * kill -9 of a worker in the middle of a step, another worker idle: the time from the kill to the end of the
 * run, the step taken over once its lock expires (LOCK_MS, stalled checks every STALLED_MS). The step waits
 * for a release file, created right after the kill, so the figure is the recovery alone.
 */
async function killRecovery(url: string, root: string, rep: number): Promise<number> {
  const started = join(root, `started-${rep}`);
  const release = join(root, `release-${rep}`);
  const victim = await tributaryWorker(url, root, 1);
  const ex = await createRedisExecutor({ url, projectRoot: root });
  let survivor: Proc | undefined;
  try {
    const step: Step = {
      id: `taken-over-${rep}`,
      module: "wait",
      action: { kind: "process" },
      inputs: ["sh", "-c", `: > ${started}; until [ -e ${release} ]; do sleep 0.01; done`].map((value) => ({
        kind: "lit" as const,
        value,
      })),
      options: {},
    };
    const run = runGraph({ steps: [step] }, { remote: ex, root, concurrency: 1 });
    while (!existsSync(started)) await new Promise((r) => setTimeout(r, 10));
    survivor = await tributaryWorker(url, root, 1);
    victim.child.kill("SIGKILL");
    const t0 = performance.now();
    writeFileSync(release, "");
    const r = await run;
    if (!r.ok) throw new Error(`kill -9 recovery run failed: ${JSON.stringify(r.steps[0])}`);
    return performance.now() - t0;
  } finally {
    await ex.close();
    await Promise.all([victim.stop(), survivor?.stop()]);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU time (user + system) of processes, in ms, from /proc (0 where there is no /proc). */
function cpuMs(pids: (number | undefined)[]): number {
  let ticks = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // Not Linux, or gone.
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

interface Sample {
  ms: number;
  /** CPU ms of this process (the orchestrator or the raw producer), the workers, and Redis. */
  here: number;
  workers: number;
  redis: number;
}

async function sample(
  run: () => Promise<unknown>,
  workers: number[],
  redisPid: number | undefined,
): Promise<Sample> {
  const c0 = process.cpuUsage();
  const w0 = cpuMs(workers);
  const r0 = cpuMs([redisPid]);
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    ms,
    here: (c.user + c.system) / 1000,
    workers: cpuMs(workers) - w0,
    redis: cpuMs([redisPid]) - r0,
  };
}

export async function remoteBench(options: { quick?: boolean } = {}): Promise<string> {
  const n = options.quick ? 500 : 2000;
  const reps = options.quick ? 1 : 3;
  const concurrency = 8;
  const redis: RedisServer = await startRedis();
  const root = tempDir("tributary-bench-remote-");
  writeFileSync(join(root, "modules.mjs"), "export function noop() { return null; }\n");
  const procs: Proc[] = [];
  const log = (s: string) => process.stderr.write(`remote: ${s}\n`);
  try {
    // 1. Overhead: no-op steps through 2 workers beside raw BullMQ jobs through 2 plain BullMQ workers.
    log(`starting 2 Tributary workers and 2 raw BullMQ workers (concurrency ${concurrency} each)`);
    const tribWorkers = await Promise.all([0, 1].map(() => tributaryWorker(redis.url, root, concurrency)));
    const rawWorkers = await Promise.all([0, 1].map(() => rawWorker(redis.url, "raw", concurrency)));
    procs.push(...tribWorkers, ...rawWorkers);
    const remote = await createRedisExecutor({ url: redis.url, projectRoot: root });
    const noops = (count: number): Graph => ({
      steps: Array.from({ length: count }, (_, k) => ({
        id: `s${k}`,
        module: "noop",
        action: {
          kind: "function" as const,
          fn: () => null,
          ref: { file: join(root, "modules.mjs"), exportName: "noop" },
        },
        inputs: [],
        options: {},
      })),
    });
    const inFlight = 256;
    const tribRun = async (count: number) => {
      const r = await runGraph(noops(count), { remote, root, concurrency: inFlight });
      if (!r.ok)
        throw new Error(`no-op run failed: ${JSON.stringify(r.steps.find((s) => s.status !== "ok"))}`);
    };
    const producer = await rawProducer(redis.url, "raw");
    await tribRun(200); // warm-up: module loads, connections, JIT
    await producer.run(200);
    const pidsOf = (ps: Proc[]) => ps.map((p) => p.child.pid!);
    const trib: Sample[] = [];
    const raw: Sample[] = [];
    const bulk: Sample[] = [];
    for (let r = 0; r < reps; r++) {
      trib.push(await sample(() => tribRun(n), pidsOf(tribWorkers), redis.pid));
      raw.push(await sample(() => producer.run(n), pidsOf(rawWorkers), redis.pid));
      bulk.push(await sample(() => producer.run(n, true), pidsOf(rawWorkers), redis.pid));
      log(
        `rep ${r + 1}: tributary ${trib[r]!.ms.toFixed(0)} ms, raw ${raw[r]!.ms.toFixed(0)} ms, raw addBulk ${bulk[r]!.ms.toFixed(0)} ms`,
      );
    }
    await remote.close();
    await producer.close();
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    const rate = (xs: Sample[]) => n / (median(xs.map((x) => x.ms)) / 1000);
    const tribRate = rate(trib);
    const rawRate = rate(raw);
    const bulkRate = rate(bulk);
    /** Median CPU per step, in µs: orchestrator (or producer) / workers / redis. */
    const cpu = (xs: Sample[]) => {
      const per = (f: (x: Sample) => number) => ((median(xs.map(f)) * 1000) / n).toFixed(0);
      return `CPU per step: ${per((x) => x.here)} µs here, ${per((x) => x.workers)} µs in workers, ${per((x) => x.redis)} µs in Redis`;
    };

    // 2. A sleep DAG on 1 worker, then on 4 (concurrency 1 each).
    const dag = sleepDag(options.quick ? 80 : 200);
    const dagRun = async (workers: number) => {
      procs.push(
        ...(await Promise.all(Array.from({ length: workers }, () => tributaryWorker(redis.url, root, 1)))),
      );
      const ex = await createRedisExecutor({ url: redis.url, projectRoot: root });
      try {
        // Warm-up: connections, JIT, the first spawns.
        const warm: Graph = {
          steps: Array.from({ length: 4 * workers }, (_, k) => ({
            id: `w${k}`,
            module: "warm",
            action: { kind: "process" as const },
            inputs: [{ kind: "lit" as const, value: "true" }],
            options: {},
          })),
        };
        await runGraph(warm, { remote: ex, root, concurrency: workers });
        const t0 = performance.now();
        const r = await runGraph(dag.graph, { remote: ex, root, concurrency: workers });
        if (!r.ok) throw new Error("sleep DAG failed");
        return performance.now() - t0;
      } finally {
        await ex.close();
        await Promise.all(procs.splice(0).map((p) => p.stop()));
      }
    };
    log(`sleep DAG of ${dag.graph.steps.length} steps on 1 worker`);
    const one = await dagRun(1);
    log(`sleep DAG on 4 workers`);
    const four = await dagRun(4);
    const recoveries: number[] = [];
    for (let r = 0; r < reps; r++) {
      log(`kill -9 recovery ${r + 1}/${reps}`);
      recoveries.push(await killRecovery(redis.url, root, r));
    }
    const bound1 = Math.max(dag.criticalMs, dag.workMs);
    const bound4 = Math.max(dag.criticalMs, dag.workMs / 4);

    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    return [
      `### Distributed execution (BullMQ on a local redis-server)`,
      ``,
      `| measurement | result |`,
      `| --- | --- |`,
      `| Tributary: ${n} no-op function steps, 2 workers × ${concurrency}, ${inFlight} in flight (median of ${reps}) | ${tribRate.toFixed(0)} steps/s; ${cpu(trib)} |`,
      `| raw BullMQ: ${n} no-op jobs (one add each), 2 plain workers × ${concurrency} (median of ${reps}) | ${rawRate.toFixed(0)} jobs/s; ${cpu(raw)} |`,
      `| raw BullMQ, the same jobs in one addBulk | ${bulkRate.toFixed(0)} jobs/s; ${cpu(bulk)} |`,
      `| Tributary / raw BullMQ (target ≥ 50%) | ${pct(tribRate / rawRate)} ${tribRate / rawRate >= 0.5 ? "✓" : "**below target**"} (${pct(tribRate / bulkRate)} of addBulk) |`,
      `| sleep DAG, ${dag.graph.steps.length} steps of 10–100 ms (work ${s(dag.workMs)}, critical path ${s(dag.criticalMs)}), 1 worker | ${s(one)}: ${(one / bound1).toFixed(2)}× the lower bound ${s(bound1)} |`,
      `| same DAG, 4 workers × 1 | ${s(four)}: ${(four / bound4).toFixed(2)}× the lower bound ${s(bound4)}; speed-up ${(one / four).toFixed(2)}× |`,
      `| a worker killed with kill -9 mid-step: kill to the end of the run, re-run on another worker (lock ${s(LOCK_MS)}, stalled checks every ${s(STALLED_MS)}; median of ${reps}) | ${s(median(recoveries))} (target < lock + 2 stalled checks = ${s(LOCK_MS + 2 * STALLED_MS)}) ${median(recoveries) < LOCK_MS + 2 * STALLED_MS ? "✓" : "**above target**"} |`,
      ``,
    ].join("\n");
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes("--quick");
  remoteBench({ quick }).then(
    (md) => process.stdout.write(`${md}\n`),
    (err) => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
