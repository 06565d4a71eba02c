/**
 * The cache's share of a null build: N process steps, each with one input file and one output, all
 * cached and unchanged. Not a vitest test; run it directly:
 *
 *     node_modules/.bin/tsx bench/null-lookup.ts [--steps 10000] [--runs 5] [--dir /tmp/x]
 *
 * First populates the cache (every step a miss + save), then runs `--runs` times, each as a fresh
 * "process" (a new cache opened from disk): per step the engine's calls — digest(input), lookup —
 * then flush. Prints the times of each run (the first is the cold one, as in a real CLI invocation:
 * nothing JIT-compiled yet) and the CPU time, so that load on the machine shows.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openCache } from "../src/cache/index.js";
import type { CacheRequest } from "../src/engine/cache-port.js";
import { copyGraph } from "./remote-cache.js";

const { values } = parseArgs({
  options: { steps: { type: "string" }, runs: { type: "string" }, dir: { type: "string" } },
});
const N = Number(values.steps ?? 10_000);
const RUNS = Number(values.runs ?? 5);
const root = values.dir ?? (await mkdtemp(join(tmpdir(), "tributary-null-lookup-")));

mkdirSync(join(root, "src"), { recursive: true });
mkdirSync(join(root, "out"), { recursive: true });
for (let i = 0; i < N; i++) writeFileSync(join(root, `src/f${i}.txt`), `file ${i}\n`);
const { steps } = copyGraph(N);

async function pass(populate: boolean): Promise<Record<string, number>> {
  const t0 = performance.now();
  const cache = await openCache({ root, onWarning: (m) => console.error("warning:", m) });
  const t1 = performance.now();
  const c0 = process.cpuUsage();
  let hits = 0;
  for (let i = 0; i < N; i++) {
    await cache.digest(`${root}/src/f${i}.txt`);
    const request: CacheRequest = {
      step: steps[i]!,
      args: [`cp src/f${i}.txt out/o${i}.txt`],
      outputs: [`out/o${i}.txt`],
      root,
    };
    const r = await cache.lookup(request);
    if (r.hit) {
      hits++;
      continue;
    }
    if (!populate) throw new Error(`unexpected miss: ${steps[i]!.id} ${r.reason ?? ""}`);
    const o = `${root}/out/o${i}.txt`;
    writeFileSync(o, `file ${i}\n`);
    await cache.save(r.key!, request, { $file: `out/o${i}.txt`, digest: await cache.digest(o) });
  }
  const t2 = performance.now();
  const cpu = process.cpuUsage(c0);
  await cache.close();
  const t3 = performance.now();
  return {
    hits,
    openMs: t1 - t0,
    lookupsMs: t2 - t1,
    lookupsCpuMs: (cpu.user + cpu.system) / 1000,
    flushMs: t3 - t2,
    totalMs: t3 - t0,
    perStepUs: ((t2 - t1) * 1000) / N,
    filesHashed: cache.stat.hashed,
  };
}

const fmt = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
    .join("  ");
console.log(`populate: ${fmt(await pass(true))}`);
for (let i = 0; i < RUNS; i++) console.log(`null run ${i + 1}: ${fmt(await pass(false))}`);
if (!values.dir) rmSync(root, { recursive: true, force: true });
