// The in-process half of the serve benchmark (issue 13), one measurement per fresh Node process so its
// memory numbers are its own: noop20.flow loaded once with `loadFlow` from the built package (dist/, or
// $TRIBUTARY_BENCH_DIST as in bench/child.mjs), then run `runs` times with `inFlight` runs at once
// (1: one after another). `floor` makes the same 20 calls as plain awaited function calls instead.
// Plain JS: no TS loader in the measured process. Prints one JSON line.
//
//   node --expose-gc bench/serve/loadflow-child.mjs <flow|floor> <runs> <inFlight>
//
// Memory is read at rest (full GCs, --expose-gc, and idle time) before the first run, at a tenth of the
// runs and at the end, outside the timed part; every run's output is checked (total = 18 × (x + 1)).
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { URL, fileURLToPath, pathToFileURL } from "node:url";
import { Join, Noop, Start } from "./noop20.mjs";

const STEPS = 20;
const SETTLE_MS = 300;
const FAN = 18;
const dist = process.env.TRIBUTARY_BENCH_DIST;
const entry = dist ? pathToFileURL(`${dist}/index.js`) : new URL("../../dist/index.js", import.meta.url);
const flowFile = fileURLToPath(new URL("./noop20.flow", import.meta.url));

const [kind, runsArg, inFlightArg] = process.argv.slice(2);
const runs = Number(runsArg);
const inFlight = Number(inFlightArg);
if (!["flow", "floor"].includes(kind) || !(runs >= 10) || !(inFlight >= 1)) {
  process.stderr.write("usage: loadflow-child.mjs <flow|floor> <runs ≥ 10> <inFlight ≥ 1>\n");
  process.exit(2);
}
if (typeof globalThis.gc !== "function") {
  process.stderr.write("loadflow-child.mjs needs node --expose-gc: its memory numbers are read after a GC\n");
  process.exit(2);
}

const expected = (x) => FAN * (x + 1);
const inputOf = (k) => k % 1000;

/** One run: resolves true when its output is right. */
let one;
let loadMs = 0;
if (kind === "flow") {
  const { loadFlow } = await import(entry.href);
  const t0 = performance.now();
  const f = await loadFlow(flowFile);
  loadMs = performance.now() - t0;
  one = async (k) => {
    const x = inputOf(k);
    const r = await f.run({ x });
    return r.ok && r.outputs.total === expected(x) && r.steps.length === STEPS;
  };
} else {
  one = async (k) => {
    const x = inputOf(k);
    const a = await Start(x);
    const bs = [];
    for (let i = 0; i < FAN; i++) bs.push(await Noop(a));
    return (await Join(...bs)) === expected(x);
  };
}

let bad = 0;
/** Runs [from, to) with `inFlight` at once; returns the wall time, ms. */
async function batch(from, to) {
  let next = from;
  const lane = async () => {
    while (next < to) {
      const k = next++;
      if (!(await one(k))) bad++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, to - from) }, lane));
  return performance.now() - t0;
}

/**
 * Memory at rest: full GCs with idle time between them, in which V8 releases the pages it freed (read
 * right after a single GC, RSS swings by ±30% from one process to the next at the same heapUsed).
 */
async function memory(done) {
  for (let k = 0; k < 2; k++) {
    globalThis.gc();
    await sleep(SETTLE_MS);
  }
  globalThis.gc();
  const m = process.memoryUsage();
  const kb = (bytes) => Math.round(bytes / 1024);
  return {
    runs: done,
    rssKb: kb(m.rss),
    heapUsedKb: kb(m.heapUsed),
    heapTotalKb: kb(m.heapTotal),
    externalKb: kb(m.external),
  };
}

const checkpoints = [await memory(0)];
const tenth = Math.floor(runs / 10);
let runMs = await batch(0, tenth);
checkpoints.push(await memory(tenth));
runMs += await batch(tenth, runs);
checkpoints.push(await memory(runs));

process.stdout.write(
  JSON.stringify({
    kind,
    runs,
    inFlight,
    steps: STEPS,
    ok: bad === 0,
    bad,
    // loadFlow's default slots per run (no `concurrency` given at load).
    concurrency: kind === "flow" ? availableParallelism() + 2 : undefined,
    loadMs,
    runMs,
    checkpoints,
    peakRssKb: process.resourceUsage().maxRSS,
  }) + "\n",
);
