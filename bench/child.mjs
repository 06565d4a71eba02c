// Runs one measurement in a fresh Node process, so that peak RSS belongs to that measurement alone.
// Plain JS on the built engine (dist/, from `npm run build`): no TS loader thread or transpiler in the
// process whose memory is measured. Prints one JSON line. TRIBUTARY_BENCH_DIST points at another build
// (a directory holding index.js) instead of ../dist/.
//
//   node --expose-gc bench/child.mjs inprocess <fanout|layers|chain> <n>
//   node bench/child.mjs spawn-engine <n> <j> [direct]   (direct: RunOptions.spawn = "direct")
//   node bench/child.mjs spawn-floor <n> <j> <ignore|pipes>
//   node bench/child.mjs report <n> <with|without> <dir> [sleepMs]   (a recorded project run of the layers
//        shape, each step a no-op or a sleep; with: its HTML report written as `run --report` does)
//   node bench/child.mjs map-async <n> <sleepMs> <concurrency>   (t.map of an async function; the peer is
//                                                                 bench/fanout/p-limit-peer.mjs)
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { URL, pathToFileURL } from "node:url";

const dist = process.env.TRIBUTARY_BENCH_DIST;
const entry = dist ? pathToFileURL(`${dist}/index.js`) : new URL("../dist/index.js", import.meta.url);
const { flow, openProject, RunReportWriter } = await import(entry.href);

const [mode, ...args] = process.argv.slice(2);
const gc = globalThis.gc ?? (() => {});
const maxRssKb = () => process.resourceUsage().maxRSS;

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function noopStep() {}

/** Adds the steps of one shape to a fresh builder. */
function buildShape(shape, n, noop = noopStep) {
  const t = flow();
  if (shape === "fanout") {
    // n independent steps, every one a sink.
    for (let i = 0; i < n; i++) t.step(`s${i}`, noop);
  } else if (shape === "chain") {
    let prev = t.step("c0", noop);
    for (let i = 1; i < n; i++) prev = t.step(`c${i}`, noop, prev);
  } else if (shape === "layers") {
    // 100 layers of n/100; each step consumes 1-2 distinct steps of the previous layer.
    const width = Math.floor(n / 100);
    const rand = prng(100);
    let prev = [];
    for (let l = 0; l < 100; l++) {
      const cur = [];
      for (let k = 0; k < width; k++) {
        const id = `l${l}_${k}`;
        if (l === 0) cur.push(t.step(id, noop));
        else {
          const a = Math.floor(rand() * width);
          if (rand() < 0.5) cur.push(t.step(id, noop, prev[a]));
          else {
            const b = (a + 1 + Math.floor(rand() * (width - 1))) % width;
            cur.push(t.step(id, noop, prev[a], prev[b]));
          }
        }
      }
      prev = cur;
    }
  } else throw new Error(`unknown shape ${shape}`);
  return t;
}

/**
 * One recorded project run of the layers shape in a fresh state directory (cache on: a clean build),
 * then, with `withReport`, its HTML report: what `tributary run --report` adds to a run.
 */
async function reportRun(n, withReport, dir, sleepMs) {
  const sleep = () => new Promise((resolve) => setTimeout(resolve, sleepMs));
  const t = buildShape("layers", n, sleepMs > 0 ? sleep : noopStep);
  const project = openProject({ graph: t.graph(), root: dir });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const writer = withReport ? new RunReportWriter() : undefined;
  const r = await project.run({ record: true, onEvent: writer?.onEvent ?? [] });
  const t1 = performance.now();
  const report = writer?.write(`${dir}/report.html`);
  const t2 = performance.now();
  const cpu = process.cpuUsage(c0);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    ok: r.ok,
    steps: r.steps.length,
    runMs: t1 - t0,
    reportMs: t2 - t1,
    wallMs: t2 - t0,
    file: report?.file,
    bytes: report?.bytes,
  };
}

async function inprocess(shape, n) {
  gc();
  const baseRssKb = maxRssKb();
  const t0 = performance.now();
  const t = buildShape(shape, n);
  const t1 = performance.now();
  const r = await t.run();
  const t2 = performance.now();
  const peakRssKb = maxRssKb();
  const steps = r.steps.length;
  const ok = r.ok && r.steps.every((s) => s.status === "ok");

  // The peer, in the same process after the engine: a bare Promise.all of n no-op async functions.
  gc();
  const fns = Array.from({ length: n }, () => async () => {});
  const p0 = performance.now();
  await Promise.all(fns.map((f) => f()));
  const peerMs = performance.now() - p0;
  return {
    shape,
    n,
    steps,
    ok,
    concurrency: availableParallelism() + 2,
    buildMs: t1 - t0,
    runMs: t2 - t1,
    baseRssKb,
    peakRssKb,
    peerMs,
  };
}

async function spawnEngine(n, j, spawnMode) {
  const t0 = performance.now();
  const t = flow();
  for (let i = 0; i < n; i++) t.exec(`t${i}`, ["true"]);
  const t1 = performance.now();
  const r = await t.run(undefined, spawnMode ? { concurrency: j, spawn: spawnMode } : { concurrency: j });
  const t2 = performance.now();
  const ok = r.ok && r.steps.length === n && r.steps.every((s) => s.status === "ok");
  return { ok, buildMs: t1 - t0, runMs: t2 - t1, peakRssKb: maxRssKb() };
}

function spawnFloor(n, j, stdio) {
  const options =
    stdio === "pipes" ? { stdio: ["ignore", "pipe", "pipe"], detached: true } : { stdio: "ignore" };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let started = 0;
    let done = 0;
    const next = () => {
      if (started >= n) return;
      started++;
      const child = spawn("true", [], options);
      if (stdio === "pipes") {
        child.stdout.on("data", () => {});
        child.stderr.on("data", () => {});
      }
      child.on("error", reject);
      child.on("close", (code) => {
        if (code !== 0) return reject(new Error(`true exited ${code}`));
        if (++done === n) resolve({ ok: true, runMs: performance.now() - t0, peakRssKb: maxRssKb() });
        else next();
      });
    };
    for (let k = 0; k < j; k++) next();
  });
}

/** `t.map` over n items of an async function that sleeps `sleepMs`, `concurrency` slots (issue 12). */
async function mapAsync(n, sleepMs, concurrency) {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function work(item) {
    await sleep(sleepMs);
    return item * 2;
  }
  const list = Array.from({ length: n }, (_, k) => k);
  const t0 = performance.now();
  const t = flow();
  const all = t.map("items", list, work);
  const r = await t.run(all, { concurrency });
  const runMs = performance.now() - t0;
  const ok = r.ok && r.value.length === n && r.value.every((v, k) => v === k * 2);
  return { ok, steps: r.steps.length, runMs, peakRssKb: maxRssKb() };
}

let out;
if (mode === "report")
  out = await reportRun(Number(args[0]), args[1] === "with", args[2], Number(args[3] ?? 0));
else if (mode === "inprocess") out = await inprocess(args[0], Number(args[1]));
else if (mode === "spawn-engine") out = await spawnEngine(Number(args[0]), Number(args[1]), args[2]);
else if (mode === "spawn-floor") out = await spawnFloor(Number(args[0]), Number(args[1]), args[2]);
else if (mode === "map-async") out = await mapAsync(Number(args[0]), Number(args[1]), Number(args[2]));
else throw new Error(`unknown mode ${mode}`);
process.stdout.write(JSON.stringify(out) + "\n");
