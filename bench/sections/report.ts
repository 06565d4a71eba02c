import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeBrowser, openReport } from "../../test/helpers/browser.js";
import { heading, median, mustTime, progress, table } from "../util.js";
import { check, checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

interface ChildResult {
  ok: boolean;
  steps: number;
  runMs: number;
  reportMs: number;
  wallMs: number;
  /** CPU time of the run and the report (user + system): less moved by a loaded machine than wall. */
  cpuMs: number;
  file?: string;
  bytes?: number;
}

const STEPS = 10_000;
const TARGET_ADDED = 0.05;
const TARGET_BYTES = 10 * 1024 * 1024;
const TARGET_RENDER_MS = 3000;

/**
 * What `run --report` costs: a recorded project run of 10,000 in-process steps (100 layers of 100, the
 * `inprocess` section's shape; no-op, then 1 ms sleeps) with and without its HTML report, each in a
 * fresh process and state directory; then the report's size and the time Chromium takes to draw it.
 */
export async function reportSection(o: SectionOptions): Promise<string> {
  const warning = checkDist();
  const reps = repsOf(o, 9, 1);
  const work = join(tmpdir(), "tributary-bench", "report");
  rmSync(work, { recursive: true, force: true });
  const rows: string[][] = [];
  let file = "";
  let bytes = 0;
  for (const sleepMs of [0, 1]) {
    const runs = compare(work, reps, sleepMs);
    const without = median(runs.without.map((r) => r.wallMs));
    const withReport = median(runs.with.map((r) => r.wallMs));
    const writeMs = median(runs.with.map((r) => r.reportMs));
    const added = (withReport - without) / without;
    const cpuWithout = median(runs.without.map((r) => r.cpuMs));
    const cpuWith = median(runs.with.map((r) => r.cpuMs));
    rows.push([
      sleepMs === 0 ? "no-op steps (worst case)" : `steps that sleep ${sleepMs} ms`,
      without.toFixed(0),
      withReport.toFixed(0),
      writeMs.toFixed(0),
      `${(added * 100).toFixed(1)}%`,
      `${cpuWithout.toFixed(0)} → ${cpuWith.toFixed(0)} (${(((cpuWith - cpuWithout) / cpuWithout) * 100).toFixed(1)}%)`,
      check(added <= TARGET_ADDED),
    ]);
    const last = runs.with[runs.with.length - 1]!;
    [file, bytes] = [last.file!, last.bytes!];
  }
  const render = await renderMs(file);
  return [
    heading(
      "Run report: the cost of `run --report` on 10,000 steps",
      `Median of ${reps} reps: a recorded project run (\`openProject({ graph }).run({ record: true })\`, a fresh ` +
        `state directory) of 10,000 in-process steps in 100 layers of 100, with and without \`RunReportWriter\` ` +
        `listening and writing the report after it (what \`run --report\` does), each in a fresh Node process on ` +
        `dist/, interleaved. No-op steps are the worst case: the whole run costs tens of µs a step, so the ` +
        `report's cost (tens of ms to build its model as the run goes, tens to write it) shows most. Target: ` +
        `≤ ${TARGET_ADDED * 100}% added wall time. On a loaded machine wall times of the same run vary by 20% ` +
        `from rep to rep; the CPU column (user + system of the child) is steadier.`,
    ),
    ...(warning ? [warning] : []),
    table(
      [
        "10,000 steps",
        "wall without, ms",
        "wall with the report, ms",
        "of which writing it, ms",
        "added wall",
        "CPU ms without → with (added)",
        "wall ≤ 5%",
      ],
      rows,
    ),
    "",
    table(
      ["the report of the last run", "value", "target", "met"],
      [
        ["size", `${(bytes / 2 ** 20).toFixed(2)} MiB`, "< 10 MiB", check(bytes < TARGET_BYTES)],
        [
          "drawn in Chromium (to the page's `data-rendered` mark, ms since navigation; median of 3)",
          `${render.toFixed(0)} ms`,
          `< ${TARGET_RENDER_MS / 1000} s`,
          check(render < TARGET_RENDER_MS),
        ],
      ],
    ),
  ].join("\n");
}

/** Runs with and without the report, interleaved (which goes first alternates), in fresh processes. */
function compare(work: string, reps: number, sleepMs: number): Record<"with" | "without", ChildResult[]> {
  const child = join(REPO, "bench", "child.mjs");
  const runs: Record<"with" | "without", ChildResult[]> = { with: [], without: [] };
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? (["without", "with"] as const) : (["with", "without"] as const);
    for (const kind of order) {
      progress(`report: ${kind} the report, steps sleep ${sleepMs} ms, rep ${rep + 1}/${reps}`);
      const dir = join(work, `${kind}-${sleepMs}-${rep}`);
      mkdirSync(dir, { recursive: true });
      const cmd = `node ${child} report ${STEPS} ${kind} ${dir} ${sleepMs}`;
      const res = JSON.parse(mustTime(cmd, REPO, `report ${kind}`).stdout) as ChildResult;
      if (!res.ok || res.steps !== STEPS) throw new Error(`report ${kind}: run not ok (${res.steps} steps)`);
      runs[kind].push(res);
    }
  }
  return runs;
}

/** Median of 3 loads in Chromium of the time until the page marks itself drawn. */
async function renderMs(file: string): Promise<number> {
  const renders: number[] = [];
  try {
    for (let k = 0; k < 3; k++) {
      progress(`report: drawing it in Chromium, ${k + 1}/3`);
      const page = await openReport(file);
      try {
        if (page.errors.length > 0) throw new Error(`the report did not draw: ${page.errors.join("; ")}`);
        renders.push(Number(await page.page.getAttribute("html", "data-rendered")));
      } finally {
        await page.close();
      }
    }
  } finally {
    await closeBrowser();
  }
  return median(renders);
}
