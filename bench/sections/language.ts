import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planGraph } from "../../src/engine/plan.js";
import { compileFlow } from "../../src/language/index.js";
import { BENCH_TMP, fmt, heading, median, mustTime, prng, progress, table } from "../util.js";
import { check, REPO, repsOf, type SectionOptions } from "./common.js";
import { SHAPES } from "../hostile-shapes.js";

const TARGET_MS = 300;
/** Compile time of 5x the steps, as a multiple: ~5 is linear, 25 quadratic. */
const MAX_GROWTH = 12;
/** Compile time of a hostile shape at 8n over n: ~8 is linear, 64 quadratic. */
const MAX_SHAPE_GROWTH = 24;

/** The fastest of `runs` compiles of `source`: the least disturbed by GC and the JIT. */
async function fastestCompile(source: string, runs: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await compileFlow(source, "f.flow", { root: BENCH_TMP, inputs: { x: "1" } });
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * Each hostile shape (bench/hostile-shapes.ts) at n = 1,000 and 8,000: the growth of the fastest compile.
 * Small and large alternate, so that a busy machine slows both.
 */
async function hostileShapes(o: SectionOptions): Promise<string> {
  const rows: string[][] = [];
  const rounds = o.quick ? 1 : 3;
  for (const [name, shape] of Object.entries(SHAPES)) {
    progress(`language: hostile shape ${name}`);
    const small = shape(1000);
    const large = shape(8000);
    await fastestCompile(small, 2);
    let s = Infinity;
    let l = Infinity;
    for (let k = 0; k < rounds; k++) {
      s = Math.min(s, await fastestCompile(small, 2));
      l = Math.min(l, await fastestCompile(large, 1));
    }
    const growth = l / Math.max(s, 0.05);
    rows.push([name, fmt.ms(s), fmt.ms(l), `${growth.toFixed(1)}×`, check(growth < MAX_SHAPE_GROWTH)]);
  }
  return (
    `\nHostile shapes (bench/hostile-shapes.ts): compile time at 8,000 over 1,000 (~8× linear, 64× quadratic; target < ${MAX_SHAPE_GROWTH}×).\n\n` +
    table(["shape", "n = 1,000", "n = 8,000", "growth", `< ${MAX_SHAPE_GROWTH}×`], rows)
  );
}

/**
 * A flow of `n` shell steps, `n_i = sh("cksum ${n_j} ${n_k} > ${output(...)}")`, each consuming two earlier
 * steps chosen at random (seeded): every line exercises interpolation, quoting, references and outputs.
 */
export function bigFlow(n: number, seed = 12345): string {
  const rand = prng(seed);
  const pick = (i: number) => Math.floor(rand() * i);
  const lines = ['n_0 = sh("echo start > ${output("out/n_0.txt")}")'];
  for (let i = 1; i < n; i++) {
    lines.push(`n_${i} = sh("cksum \${n_${pick(i)}} \${n_${pick(i)}} > \${output("out/n_${i}.txt")}")`);
  }
  lines.push(`out n_${n - 1}`);
  return lines.join("\n") + "\n";
}

interface Phases {
  compileMs: number;
  planMs: number;
}

async function compileAndPlan(source: string, root: string): Promise<Phases> {
  const t0 = performance.now();
  const r = await compileFlow(source, join(root, "pipeline.flow"));
  const t1 = performance.now();
  if (!r.graph || r.diagnostics.length > 0)
    throw new Error(`bigFlow does not compile: ${r.diagnostics[0]?.message}`);
  const plan = await planGraph(r.graph, { concurrency: 8, root });
  const t2 = performance.now();
  // The plan holds the steps `out` needs: the ancestors of the last one.
  if (plan.steps.length === 0) throw new Error("empty plan");
  return { compileMs: t1 - t0, planMs: t2 - t1 };
}

/**
 * Parse + check + compile + plan of a generated 10,000-step flow: the first call in this process (cold:
 * nothing JIT-compiled yet, what a CLI invocation pays) and the median of warm calls, beside the wall time
 * of `tributary plan` on the same file in a fresh process (Node start-up included).
 */
export async function languageSection(o: SectionOptions): Promise<string> {
  const n = 10_000;
  const reps = repsOf(o, 7, 2);
  const root = join(BENCH_TMP, "language");
  mkdirSync(root, { recursive: true });
  const source = bigFlow(n);
  writeFileSync(join(root, "pipeline.flow"), source);
  progress("language: cold compile + plan");
  const cold = await compileAndPlan(source, root);
  const warm: Phases[] = [];
  for (let k = 0; k < reps; k++) {
    progress(`language: warm ${k + 1}/${reps}`);
    warm.push(await compileAndPlan(source, root));
  }
  const cli: number[] = [];
  for (let k = 0; k < Math.min(reps, 3); k++) {
    progress(`language: tributary plan ${k + 1}`);
    cli.push(
      mustTime(
        `node ${join(REPO, "bin", "tributary.js")} plan pipeline.flow -j 8 --no-cache`,
        root,
        "tributary plan",
      ).ms,
    );
  }
  const warmCompile = median(warm.map((w) => w.compileMs));
  const warmPlan = median(warm.map((w) => w.planMs));
  progress("language: warm compile of a flow 5x smaller");
  const smallSource = bigFlow(n / 5);
  const small: Phases[] = [];
  for (let k = 0; k < reps; k++) small.push(await compileAndPlan(smallSource, root));
  const smallCompile = median(small.map((w) => w.compileMs));
  const smallPlan = median(small.map((w) => w.planMs));
  const growth = warmCompile / smallCompile;
  const rows = [
    [
      "cold (first call in the process)",
      fmt.ms(cold.compileMs),
      fmt.ms(cold.planMs),
      fmt.ms(cold.compileMs + cold.planMs),
      check(cold.compileMs + cold.planMs < TARGET_MS),
    ],
    [
      `warm (median of ${reps})`,
      fmt.ms(warmCompile),
      fmt.ms(warmPlan),
      fmt.ms(warmCompile + warmPlan),
      check(warmCompile + warmPlan < TARGET_MS),
    ],
    ["`tributary plan` wall, fresh process (median)", "", "", fmt.ms(median(cli)), ""],
    [
      `warm, ${(n / 5).toLocaleString("en")} steps (median of ${reps})`,
      fmt.ms(smallCompile),
      fmt.ms(smallPlan),
      fmt.ms(smallCompile + smallPlan),
      "",
    ],
  ];
  return (
    heading(
      "Language: parse + check + plan of a 10,000-step flow",
      `Generated flow: ${n.toLocaleString("en")} \`sh(...)\` steps, each interpolating two earlier steps and one \`output()\`. ` +
        `Target < ${TARGET_MS} ms for parse + check + compile + plan. ` +
        `Linear time: 5× the steps take ${growth.toFixed(1)}× the compile time (target < ${MAX_GROWTH}×, 25× would be quadratic): ${check(growth < MAX_GROWTH)}.`,
    ) +
    `\n${table(["run", "parse + check + compile", "plan (8 slots)", "total", `< ${TARGET_MS} ms`], rows)}` +
    (await hostileShapes(o))
  );
}
