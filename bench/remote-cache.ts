/**
 * The remote cache: restoring 1,000 cached steps over HTTP from a local nginx (WebDAV) into a fresh project
 * with a fresh local cache directory — every step a remote hit: one GET of its action-cache entry, one GET
 * of its output blob — beside the same restore from a local directory cache (fresh project, entries
 * already on disk), measured in the same invocation through the real engine. Returns a markdown table.
 *
 *     node_modules/.bin/tsx bench/remote-cache.ts [--quick] [--steps 1000] [--reps 3]
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openCache, type LocalCache } from "../src/cache/index.js";
import { openTieredCache, type TieredStore } from "../src/cache/stores/index.js";
import type { CacheRequest } from "../src/engine/cache-port.js";
import { runGraph } from "../src/project/run-graph.js";
import type { Graph, Step } from "../src/graph/ir.js";
import { tempDir } from "../test/helpers/procs.js";
import { startNginx } from "../test/helpers/servers.js";

export interface RemoteCacheBenchOptions {
  steps?: number;
  reps?: number;
  quick?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** N process steps, each copying its own small input file to its own output (src/f<i>.txt -> out/o<i>.txt). */
export function copyGraph(n: number): Graph {
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    steps.push({
      id: `s${i}`,
      module: "sh",
      action: { kind: "process", shell: true },
      options: {},
      inputs: [
        {
          kind: "concat",
          quote: "shell",
          parts: [
            { kind: "lit", value: "cp ", raw: true },
            { kind: "file", path: { kind: "lit", value: `src/f${i}.txt` } },
            { kind: "lit", value: " ", raw: true },
            { kind: "output", path: `out/o${i}.txt` },
          ],
        },
      ],
    });
  }
  return { steps };
}

/** Output i: ~2 kB, different for every step (so every restore moves its own blob). */
const content = (i: number) => `file ${i}\n${"0123456789abcdef".repeat(128)}${i}\n`;

function freshProject(n: number): string {
  const root = tempDir("tributary-bench-rc-");
  mkdirSync(join(root, "src"));
  mkdirSync(join(root, "out"));
  for (let i = 0; i < n; i++) writeFileSync(join(root, `src/f${i}.txt`), content(i));
  return root;
}

/**
 * Fills a cache as if every step had run: lookup (a miss), write the output, save. Through the engine's
 * calls, without spawning 1,000 processes.
 */
async function populate(cache: LocalCache, root: string, graph: Graph): Promise<void> {
  for (let i = 0; i < graph.steps.length; i++) {
    await cache.digest(join(root, `src/f${i}.txt`)); // as the engine does before the lookup
    const request: CacheRequest = {
      step: graph.steps[i]!,
      args: [`cp src/f${i}.txt out/o${i}.txt`],
      outputs: [`out/o${i}.txt`],
      root,
    };
    const r = await cache.lookup(request);
    if (r.hit || r.key === undefined) throw new Error(`populate: step ${i} was not a miss`);
    const out = join(root, `out/o${i}.txt`);
    writeFileSync(out, content(i));
    await cache.save(r.key, request, { $file: `out/o${i}.txt`, digest: await cache.digest(out) });
  }
}

interface Measured {
  ms: number;
  hits: number;
}

async function restore(
  graph: Graph,
  open: (root: string) => Promise<{ cache: LocalCache; store?: TieredStore }>,
  jobs: number,
): Promise<Measured> {
  const n = graph.steps.length;
  const root = freshProject(n);
  try {
    const t0 = performance.now();
    const { cache, store } = await open(root);
    const result = await runGraph(graph, { cache, root, concurrency: jobs });
    await cache.close();
    await store?.close();
    const ms = performance.now() - t0;
    const hits = result.steps.filter((s) => s.cached).length;
    if (!result.ok || hits !== n) {
      throw new Error(`restore: ${hits}/${n} cached; warnings: ${cache.warnings.slice(0, 3).join("; ")}`);
    }
    if (store && store.counters.remoteEntries !== n) {
      throw new Error(`restore: ${store.counters.remoteEntries}/${n} entries came from the remote`);
    }
    return { ms, hits };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function remoteCacheBench(options: RemoteCacheBenchOptions = {}): Promise<string> {
  const n = options.steps ?? (options.quick ? 200 : 1000);
  const reps = options.reps ?? (options.quick ? 1 : 3);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const graph = copyGraph(n);
  const nginx = await startNginx();
  const work = tempDir("tributary-bench-rc-caches-");
  try {
    const url = `${nginx.url}/bench`;
    const localDir = join(work, "local-cache");
    // One population, written to a local directory and uploaded to nginx at the same time.
    log(`remote cache: populating ${n} entries (local directory + nginx)`);
    const seed = freshProject(n);
    const { cache, store } = await openTieredCache({ root: seed, dir: localDir, remote: url });
    await populate(cache, seed, graph);
    await cache.close();
    await store.close();
    rmSync(seed, { recursive: true, force: true });
    if (store.counters.uploadedEntries !== n)
      throw new Error(`only ${store.counters.uploadedEntries} uploaded`);

    const configs: {
      name: string;
      jobs: number;
      open: (root: string) => Promise<{ cache: LocalCache; store?: TieredStore }>;
    }[] = [];
    for (const jobs of [1, 16]) {
      configs.push({
        name: `local directory cache, -j ${jobs}`,
        jobs,
        open: async (root) => ({ cache: await openCache({ root, dir: localDir }) }),
      });
      configs.push({
        name: `HTTP (nginx on 127.0.0.1), fresh local cache, -j ${jobs}`,
        jobs,
        open: async (root) => {
          const dir = join(work, `fresh-${Math.random().toString(36).slice(2)}`);
          return openTieredCache({ root, dir, remote: url });
        },
      });
    }
    const results = new Map<string, number[]>();
    for (let r = 0; r < reps; r++) {
      // Interleaved, so a change in the machine's load hits every configuration alike.
      for (const c of configs) {
        log(`remote cache: ${c.name} (${r + 1}/${reps})`);
        const m = await restore(graph, c.open, c.jobs);
        results.set(c.name, [...(results.get(c.name) ?? []), m.ms]);
      }
    }
    const row = (name: string) => {
      const ms = median(results.get(name)!);
      return { ms, perStep: ms / n };
    };
    const lines = [
      `### Remote cache: restoring ${n} cached steps (median of ${reps}; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)})`,
      ``,
      `Each step: one ~2 kB output file; a fresh project (input files only), so every step is looked up and its output restored. HTTP: a fresh local cache directory too, so every step is a remote hit (GET of the entry, GET of the blob, both verified, copied into the local cache). Times include opening and closing the cache.`,
      ``,
      `| restore from | -j | total | ms per step | vs local directory |`,
      `| --- | --- | --- | --- | --- |`,
    ];
    for (const jobs of [1, 16]) {
      const local = row(`local directory cache, -j ${jobs}`);
      const http = row(`HTTP (nginx on 127.0.0.1), fresh local cache, -j ${jobs}`);
      lines.push(
        `| local directory | ${jobs} | ${(local.ms / 1000).toFixed(2)} s | ${local.perStep.toFixed(3)} | 1.00× |`,
        `| HTTP, nginx on 127.0.0.1 | ${jobs} | ${(http.ms / 1000).toFixed(2)} s | ${http.perStep.toFixed(3)} | ${(http.ms / local.ms).toFixed(2)}× |`,
      );
    }
    lines.push("");
    return lines.join("\n");
  } finally {
    await nginx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, steps: { type: "string" }, reps: { type: "string" } },
  });
  remoteCacheBench({
    quick: values.quick,
    steps: values.steps ? Number(values.steps) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
  }).then(
    (md) => process.stdout.write(`${md}\n`),
    (err) => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
