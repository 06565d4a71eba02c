import { join } from "node:path";
import { fmt, heading, median, mustTime, progress, table } from "../util.js";
import { check, checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

interface ChildResult {
  shape: string;
  n: number;
  steps: number;
  ok: boolean;
  concurrency: number;
  buildMs: number;
  runMs: number;
  baseRssKb: number;
  peakRssKb: number;
  peerMs: number;
}

const SHAPES = [
  { shape: "fanout", label: "fan-out: 100k independent steps, all sinks (no join)" },
  { shape: "layers", label: "100 layers × 1,000, each step consumes 1–2 of the previous layer" },
  { shape: "chain", label: "chain of 100k" },
];

const TARGET_US = 3;
const TARGET_MIB = 150;

/** 100k no-op async steps through the TS API, one fresh `node --expose-gc` process per shape and rep. */
export function inprocessSection(o: SectionOptions): string {
  const warning = checkDist();
  const n = 100_000;
  const reps = repsOf(o, 5);
  const results = new Map<string, ChildResult[]>(SHAPES.map((s) => [s.shape, []]));
  const child = join(REPO, "bench", "child.mjs");
  for (let rep = 0; rep < reps; rep++) {
    for (const { shape } of SHAPES) {
      progress(`inprocess: ${shape}, rep ${rep + 1}/${reps}`);
      const r = mustTime(`node --expose-gc ${child} inprocess ${shape} ${n}`, REPO, `inprocess ${shape}`);
      const res = JSON.parse(r.stdout) as ChildResult;
      if (!res.ok || res.steps !== n) throw new Error(`inprocess ${shape}: run not ok (${res.steps} steps)`);
      results.get(shape)!.push(res);
    }
  }
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const { shape, label } of SHAPES) {
    const rs = results.get(shape)!;
    const total = median(rs.map((r) => ((r.buildMs + r.runMs) * 1000) / n));
    const run = median(rs.map((r) => (r.runMs * 1000) / n));
    const peak = median(rs.map((r) => r.peakRssKb));
    const base = median(rs.map((r) => r.baseRssKb));
    const peer = median(rs.map((r) => (r.peerMs * 1000) / n));
    const ok = total <= TARGET_US && peak / 1024 <= TARGET_MIB;
    rows.push([
      label,
      total.toFixed(2),
      run.toFixed(2),
      fmt.mib(peak),
      fmt.mib(base),
      peer.toFixed(3),
      (total / peer).toFixed(0),
      check(ok),
    ]);
    if (!ok) verdicts.push(`${shape}: ${total.toFixed(2)} µs/step, ${fmt.mib(peak)} MiB`);
  }
  const concurrency = results.get("fanout")![0]!.concurrency;
  return [
    heading(
      "In-process: 100,000 no-op async steps through the TS API (`flow()`, `t.step`, `t.run()`)",
      `Median of ${reps} reps; each shape and rep in a fresh \`node --expose-gc\` process on the built engine ` +
        `(dist/), shapes interleaved. Default concurrency (cores + 2 = ${concurrency}). Peak RSS = ` +
        `\`process.resourceUsage().maxRSS\` after the run; "RSS at start" is the same after imports. Peer: a ` +
        `bare \`await Promise.all\` of 100k no-op async functions, measured in the same child right after the engine.`,
    ),
    ...(warning ? [warning] : []),
    table(
      [
        "shape",
        "build + run µs/step",
        "run µs/step",
        "peak RSS MiB",
        "RSS at start MiB",
        "Promise.all µs/fn",
        "× Promise.all",
        `target ≤ ${TARGET_US} µs, ≤ ${TARGET_MIB} MiB`,
      ],
      rows,
    ),
    "",
    verdicts.length === 0 ? "Targets met for every shape." : `Targets missed: ${verdicts.join("; ")}.`,
  ].join("\n");
}
