/**
 * The build tools' side of W2 (null build), W3 (makespan) and W4 (clock skew). Every function takes the
 * list of tools, so Tributary's CLI becomes a column by adding `tributaryRunner()` to it.
 */
import type { Graph } from "../../src/graph/ir.js";
import { simulate } from "../../src/engine/simulate.js";
import type { ScheduleMode } from "../../src/engine/scheduler.js";
import {
  cleanBuild,
  coneOf,
  materialize,
  noopBuild,
  skewCheck,
  touchBuild,
  truncateWorkload,
  type BuildRun,
  type SkewResult,
  type ToolRunner,
} from "../peers.js";
import { fmt, heading, median, progress, table } from "../util.js";
import { loadWorkload, type Workload } from "../workloads.js";
import { repsOf, type SectionOptions } from "./common.js";

const toolList = (tools: ToolRunner[]): string => tools.map((t) => t.name).join(", ");

// ---------------------------------------------------------------------------------------------------
// W3: makespan

/** The workload as a graph of timed steps, for the scheduler simulation. */
function w3Graph(w: Workload, withEstimates: boolean): { graph: Graph; durations: Record<string, number> } {
  const durations: Record<string, number> = {};
  const graph: Graph = {
    steps: w.nodes.map((n) => {
      durations[n.id] = n.duration * 1000;
      return {
        id: n.id,
        module: "task",
        action: { kind: "function" },
        inputs: n.deps.map((d) => ({ kind: "ref" as const, step: d })),
        // Without estimates every step looks alike (1 ms), as on a first run with no history.
        options: { estimateMs: withEstimates ? n.duration * 1000 : 1 },
      };
    }),
  };
  return { graph, durations };
}

export function w3Section(o: SectionOptions, w: Workload = loadWorkload("w3")): string {
  // -j2 and -j8 (the workload also lists -j4; PEERS.md has it): -j4 would add ~45 s per 3 tools.
  const jobs = (w.bench.jobs as number[]).filter((j) => j === 2 || j === 8);
  const reps = repsOf(o, 3);
  const bounds = w.bench.bounds as Record<string, number>;
  const times = new Map<string, number[]>();
  const key = (tool: ToolRunner, j: number): string => `${tool.key}-j${j}`;
  for (const j of jobs) {
    const dirs = o.tools.map((t) => materialize(w, t, j));
    for (let rep = 0; rep < reps; rep++) {
      o.tools.forEach((tool, k) => {
        progress(`w3: ${tool.name} -j${j}, rep ${rep + 1}/${reps}`);
        const r = cleanBuild(tool, w, dirs[k]!, j);
        (times.get(key(tool, j)) ?? times.set(key(tool, j), []).get(key(tool, j))!).push(r.ms);
      });
    }
  }
  const cell = (ms: number, j: number): string => `${fmt.s(ms)} (${fmt.ratio(ms / 1000 / bounds[j]!)})`;
  const rows: string[][] = [["**bound**", ...jobs.map((j) => `**${bounds[j]!.toFixed(2)}**`)]];
  for (const tool of o.tools)
    rows.push([tool.name, ...jobs.map((j) => cell(median(times.get(key(tool, j))!), j))]);
  const sims: { label: string; mode: ScheduleMode; est: boolean }[] = [
    { label: "eager, durations known", mode: "eager", est: true },
    { label: "eager, no estimates", mode: "eager", est: false },
    { label: "fifo", mode: "fifo", est: false },
    { label: "layers", mode: "layers", est: false },
  ];
  for (const s of sims) {
    const { graph, durations } = w3Graph(w, s.est);
    rows.push([
      `_tributary scheduler, simulated: ${s.label}_`,
      ...jobs.map((j) => cell(simulate(graph, { concurrency: j, mode: s.mode, durations }).makespanMs, j)),
    ]);
  }
  return [
    heading(
      `W3 makespan: ${w.nodes.length} sleep tasks, random DAG; critical path ${w.bench.criticalPath} s, total work ${w.bench.totalWork} s`,
      `Clean build (outputs deleted before each run, untimed); median of ${reps} reps; ${toolList(o.tools)} ran ` +
        `in this invocation, interleaved. Cell: makespan s (ratio to the bound max(critical path, work / j)). ` +
        `The italic rows are the engine's scheduler on a virtual clock (zero process overhead), for reference.`,
    ),
    table(["tool", ...jobs.map((j) => `-j${j}`)], rows),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// W2: null build

export function w2Section(o: SectionOptions, full: Workload = loadWorkload("w2")): string {
  // --quick: the first 20 layers (2,000 targets) instead of 10,000.
  const w = o.quick ? truncateWorkload(full, 2000) : full;
  const j = (w.bench.jobs as number[])[0]!;
  const touch = w.bench.touch as string;
  const cone = coneOf(w, touch).size;
  if (w === full && w.bench.touchCone !== undefined && cone !== w.bench.touchCone) {
    throw new Error(`w2: computed cone of ${touch} is ${cone}, the workload says ${w.bench.touchCone}`);
  }
  const reps = repsOf(o, 5, 2);
  const dirs = o.tools.map((t) => {
    progress(`w2: materializing ${w.nodes.length} targets for ${t.name}`);
    return materialize(w, t, j);
  });
  const clean = new Map<ToolRunner, BuildRun>();
  o.tools.forEach((tool, k) => {
    progress(`w2: ${tool.name} clean build`);
    clean.set(tool, cleanBuild(tool, w, dirs[k]!, j));
  });
  const incremental = o.tools.filter((t) => t.upToDate);
  const noop = new Map<ToolRunner, BuildRun[]>(incremental.map((t) => [t, []]));
  const touched = new Map<ToolRunner, BuildRun[]>(incremental.map((t) => [t, []]));
  for (let rep = 0; rep < reps; rep++) {
    progress(`w2: no-op, rep ${rep + 1}/${reps}`);
    for (const tool of incremental) noop.get(tool)!.push(noopBuild(tool, w, dirs[o.tools.indexOf(tool)]!, j));
  }
  for (let rep = 0; rep < reps; rep++) {
    progress(`w2: touch ${touch}, rep ${rep + 1}/${reps}`);
    for (const tool of incremental) {
      touched.get(tool)!.push(touchBuild(tool, w, dirs[o.tools.indexOf(tool)]!, j, touch));
    }
  }
  const rewrote = (rs: BuildRun[]): string => {
    const counts = [...new Set(rs.map((r) => r.rewrote))];
    return counts.join("/");
  };
  const n = w.nodes.length;
  const rows = o.tools.map((tool) => {
    const c = clean.get(tool)!;
    const base = [tool.name, fmt.s(c.ms), (c.ms / n).toFixed(2)];
    if (!tool.upToDate) return [...base, "n/a", "n/a", "n/a", "n/a", fmt.mib(c.rssKb), "–"];
    const nr = noop.get(tool)!;
    const tr = touched.get(tool)!;
    return [
      ...base,
      fmt.ms(median(nr.map((r) => r.ms))),
      rewrote(nr),
      fmt.s(median(tr.map((r) => r.ms))),
      `${rewrote(tr)} / ${cone}`,
      fmt.mib(c.rssKb),
      fmt.mib(median(nr.map((r) => r.rssKb ?? NaN))),
    ];
  });
  return [
    heading(
      `W2 null build: ${n.toLocaleString("en")} file targets${w === full ? ", 100 layers × 100" : " (--quick: the first 20 of 100 layers)"}, -j${j}`,
      `Clean build once per tool (outputs and tool state deleted first); no-op and touch: median of ${reps} reps, ` +
        `tools interleaved; ${toolList(o.tools)} ran in this invocation. "rewrote" = declared outputs whose ` +
        `nanosecond mtime changed (distinct values over the reps); cone = targets downstream of ${touch}. ` +
        `xargs has no up-to-date check (level barriers, reruns everything): no no-op or touch rows.`,
    ),
    table(
      [
        "tool",
        "clean build s",
        "ms/target",
        "no-op",
        "no-op rewrote",
        `touch ${touch}: s`,
        "rewrote / cone",
        "RSS MiB clean",
        "RSS MiB no-op",
      ],
      rows,
    ),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// W4: clock skew

export function w4Section(o: SectionOptions, w: Workload = loadWorkload("w4")): string {
  const j = (w.bench.jobs as number[])[0]!;
  const results = new Map<ToolRunner, SkewResult>();
  for (const tool of o.tools) {
    progress(`w4: ${tool.name}`);
    results.set(tool, skewCheck(tool, w, materialize(w, tool, j), j));
  }
  const reran = (ids: string[]): string => (ids.length === 0 ? "nothing" : ids.join(", "));
  const correct = (ok: boolean, stale: string[]): string =>
    ok ? "yes" : `**no (stale: ${stale.join(", ")})**`;
  const rows = o.tools.map((tool) => {
    const r = results.get(tool)!;
    return [
      tool.upToDate ? tool.name : `${tool.name} (no up-to-date check)`,
      reran(r.skewReran),
      correct(r.skewCorrect, r.stale.skew),
      reran(r.touchReran),
      correct(r.touchCorrect, r.stale.touch),
    ];
  });
  return [
    heading(
      `W4 clock skew: ${w.nodes.map((n) => n.id).join(" -> ")} (${w.bench.source as string} -> ${w.nodes.flatMap((n) => n.outputs).join(" -> ")}), -j${j}`,
      `One check per tool (deterministic), ${toolList(o.tools)} in this invocation. After a clean build, ` +
        `${w.bench.source as string} gets new content with mtime ${w.bench.oldDate as string}, then a rebuild; then ` +
        `\`touch\` without change, then a rebuild. "reran" is read from log/runs.txt; "correct" compares every ` +
        `declared output with a from-scratch sequential build of the same sources.`,
    ),
    table(
      [
        "tool",
        `new content, mtime ${(w.bench.oldDate as string).slice(0, 4)}: reran`,
        "outputs correct",
        "touch, same content: reran",
        "outputs correct",
      ],
      rows,
    ),
  ].join("\n");
}
