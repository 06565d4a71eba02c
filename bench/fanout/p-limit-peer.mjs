// The hand-written peer of `t.map` in the fan-out section (issue 12, benchmark 3): n calls of an async
// function that sleeps `sleepMs`, at most `concurrency` at a time, with p-limit and Promise.all. Plain JS
// like bench/child.mjs (no TS loader in either process); prints one JSON line like it.
//
//   node bench/fanout/p-limit-peer.mjs <n> <sleepMs> <concurrency>
import pLimit from "p-limit";
import { performance } from "node:perf_hooks";

const [n, sleepMs, concurrency] = process.argv.slice(2).map(Number);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function work(item) {
  await sleep(sleepMs);
  return item * 2;
}

const list = Array.from({ length: n }, (_, k) => k);
const t0 = performance.now();
const limit = pLimit(concurrency);
const values = await Promise.all(list.map((item) => limit(() => work(item))));
const runMs = performance.now() - t0;
const ok = values.length === n && values.every((v, k) => v === k * 2);
process.stdout.write(
  JSON.stringify({ ok, steps: n, runMs, peakRssKb: process.resourceUsage().maxRSS }) + "\n",
);
