/**
 * The build tools' side of W1 (per-task overhead), W2 (null build), W3 (makespan) and W4 (clock skew).
 * Every function takes the list of tools, so Tributary's CLI becomes a column by adding
 * `tributaryRunner()` to it.
 */
import type { Graph } from "../../src/graph/ir.js";
import { simulate } from "../../src/engine/simulate.js";
import type { ScheduleMode } from "../../src/engine/scheduler.js";
import {
  cleanBuild,
  coneOf,
  make,
  materialize,
  noopBuild,
  skewCheck,
  touchBuild,
  TRIBUTARY_KEY,
  truncateWorkload,
  type BuildRun,
  type SkewResult,
  type ToolRunner,
} from "../peers.js";
import { fmt, heading, median, mustTime, progress, table } from "../util.js";
import { chainWorkload, loadWorkload, type Workload } from "../workloads.js";
import { check, repsOf, type SectionOptions } from "./common.js";

const toolList = (tools: ToolRunner[]): string => tools.map((t) => t.name).join(", ");

const findMake = (tools: ToolRunner[]): ToolRunner | undefined => tools.find((t) => t.key === make.key);
const findTributary = (tools: ToolRunner[]): ToolRunner | undefined =>
  tools.find((t) => t.key === TRIBUTARY_KEY);

/** Said instead of a verdict when the tools a target compares were not both run. */
const notChecked = (what: string): string => `not checked (needs ${what} in --tools)`;

// ---------------------------------------------------------------------------------------------------
// W1: per-task overhead

/** Every `tributary` row pays one Node start-up; timed through the same wrapper as the tools. */
const NODE_START = "node -e 0";

export function w1Section(
  o: SectionOptions,
  ids: string[] = o.quick ? ["w1-20", "w1-200"] : ["w1-20", "w1-200", "w1"],
): string {
  if (ids.length < 2) throw new Error(`w1: the marginal cost needs two sizes or more, got ${ids.join(", ")}`);
  const ws = ids.map((id) => loadWorkload(id));
  const tools = o.tools.flatMap((t) => (t.withoutCache ? [t, t.withoutCache] : [t]));
  const reps = repsOf(o, 7, 3);
  const jobsOf = (w: Workload): number => (w.bench.jobs as number[])[0]!;
  const dirs = ws.map((w) => tools.map((t) => materialize(w, t, jobsOf(w))));
  // Keyed by row name then workload id; the node row has no ToolRunner.
  const nodeRow = `_${NODE_START}_`;
  const rowNames = [...tools.map((t) => t.name), nodeRow];
  const walls = new Map<string, number[]>();
  const rss = new Map<string, number[]>();
  const add = (row: string, w: Workload, ms: number, kb: number | undefined): void => {
    const k = `${row}/${w.id}`;
    (walls.get(k) ?? walls.set(k, []).get(k)!).push(ms);
    (rss.get(k) ?? rss.set(k, []).get(k)!).push(kb ?? NaN);
  };
  for (let rep = 0; rep < reps; rep++) {
    ws.forEach((w, s) => {
      progress(`w1: ${w.nodes.length} tasks, rep ${rep + 1}/${reps}`);
      tools.forEach((tool, k) => {
        const r = cleanBuild(tool, w, dirs[s]![k]!, jobsOf(w));
        add(tool.name, w, r.ms, r.rssKb);
      });
      const r = mustTime(NODE_START, dirs[s]![0]!, `w1: ${NODE_START}`);
      add(nodeRow, w, r.ms, r.rssKb);
    });
  }

  const wall = (row: string, w: Workload): number => median(walls.get(`${row}/${w.id}`)!);
  const spans = ws.slice(1).map((b, k) => ({ a: ws[k]!, b }));
  const spanLabel = (sp: { a: Workload; b: Workload }): string => `${sp.a.nodes.length}→${sp.b.nodes.length}`;
  const marginal = (row: string, sp: { a: Workload; b: Workload }): number =>
    (wall(row, sp.b) - wall(row, sp.a)) / (sp.b.nodes.length - sp.a.nodes.length);
  const mk = findMake(o.tools);
  const first = ws[0]!;
  const rows = rowNames.map((row) => {
    const isNode = row === nodeRow;
    return [
      row,
      // Node's start-up is paid once per command, not per task: no per-task or marginal figures.
      ...ws.map((w) =>
        isNode
          ? fmt.ms(wall(row, w))
          : `${fmt.ms(wall(row, w))} (${(wall(row, w) / w.nodes.length).toFixed(2)})`,
      ),
      ...spans.map((sp) => (isNode ? "–" : marginal(row, sp).toFixed(2))),
      mk ? fmt.ratio(wall(row, first) / wall(mk.name, first)) : "–",
      ...spans.map((sp) => (isNode || !mk ? "–" : fmt.ratio(marginal(row, sp) / marginal(mk.name, sp)))),
      ws.map((w) => fmt.mib(median(rss.get(`${row}/${w.id}`)!))).join(" / "),
    ];
  });

  const off = findTributary(o.tools)?.withoutCache;
  const targets: string[] = [];
  if (!mk || !off) {
    targets.push(`W1 targets: ${notChecked("make and tributary")}.`);
  } else {
    const r20 = wall(off.name, first) / wall(mk.name, first);
    // The widest span the run has is the steadiest estimate of the cost per step.
    const sp = spans[spans.length - 1]!;
    const rm = marginal(off.name, sp) / marginal(mk.name, sp);
    const others = spans
      .slice(0, -1)
      .map((x) => `; ${spanLabel(x)}: ${fmt.ratio(marginal(off.name, x) / marginal(mk.name, x))}×`)
      .join("");
    targets.push(
      `- W1-${first.nodes.length} cache off ≤ 2× make: ${check(r20 <= 2)} (${fmt.ratio(r20)}×)`,
      `- marginal per step ≤ make (${spanLabel(sp)} tasks, cache off): ${check(rm <= 1)} (${fmt.ratio(rm)}×${others})`,
    );
  }
  const sizes = ws.map((w) => w.nodes.length.toLocaleString("en")).join(" / ");
  return [
    heading(
      `W1 per-task overhead: ${sizes} independent \`echo\` tasks, clean build at -j${jobsOf(first)}`,
      `Median of ${reps} reps; ${toolList(tools)} and \`${NODE_START}\` ran in this invocation, interleaved ` +
        `(each rep runs every size, each size every tool). Outputs and tool state are deleted before each run ` +
        `(untimed); wall is around the whole command, incl. \`/usr/bin/time\` (peak RSS) and, for tributary, ` +
        `Node's start-up (the italic row). Marginal = (wall(b) − wall(a)) / (b − a): the cost of one more ` +
        `task once start-up is paid.${o.quick ? " --quick: without the 1,000-task workload." : ""}`,
    ),
    table(
      [
        "tool",
        ...ws.map((w) => `${w.nodes.length} tasks: wall (ms/task)`),
        ...spans.map((sp) => `marginal ms/task ${spanLabel(sp)}`),
        `÷ make at ${first.nodes.length}`,
        ...spans.map((sp) => `÷ make marginal ${spanLabel(sp)}`),
        `peak RSS MiB (${ws.map((w) => w.nodes.length).join(" / ")})`,
      ],
      rows,
    ),
    "",
    ...targets,
  ].join("\n");
}

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
  // Issue 16 asks for every j of the workload in the same run; --quick keeps one, the middle one.
  const jobs = o.quick ? [4] : (w.bench.jobs as number[]);
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
  const mk = findMake(o.tools);
  const trib = findTributary(o.tools);
  const targets = jobs.map((j) => {
    const what = `-j${j}: tributary/bound ≤ make/bound`;
    if (!mk || !trib) return `- ${what}: ${notChecked("make and tributary")}`;
    const ratio = (t: ToolRunner): number => median(times.get(key(t, j))!) / 1000 / bounds[j]!;
    const [rt, rm] = [ratio(trib), ratio(mk)];
    return `- ${what}: ${check(rt <= rm)} (${fmt.ratio(rt)} vs ${fmt.ratio(rm)})`;
  });
  return [
    heading(
      `W3 makespan: ${w.nodes.length} sleep tasks, random DAG; critical path ${w.bench.criticalPath} s, total work ${w.bench.totalWork} s`,
      `Clean build (outputs deleted before each run, untimed); median of ${reps} reps; ${toolList(o.tools)} ran ` +
        `in this invocation, interleaved. Cell: makespan s (ratio to the bound max(critical path, work / j)). ` +
        `The italic rows are the engine's scheduler on a virtual clock (zero process overhead), for reference.`,
    ),
    table(["tool", ...jobs.map((j) => `-j${j}`)], rows),
    "",
    ...targets,
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
    "",
    ...w2Targets(
      o,
      clean,
      noop,
      w === full ? "" : ` (--quick: ${n.toLocaleString("en")} targets, not 10,000)`,
    ),
  ].join("\n");
}

/** Issue 16's memory targets for tributary's W2 rows. */
function w2Targets(
  o: SectionOptions,
  clean: Map<ToolRunner, BuildRun>,
  noop: Map<ToolRunner, BuildRun[]>,
  note: string,
): string[] {
  const trib = findTributary(o.tools);
  if (!trib) return [`W2 memory targets: ${notChecked("tributary")}.`];
  const line = (what: string, kb: number | undefined, limitMib: number): string => {
    if (kb === undefined || !Number.isFinite(kb)) {
      return `- tributary peak RSS ${what} ≤ ${limitMib} MiB: **NO** (not measured: /usr/bin/time is missing)`;
    }
    return `- tributary peak RSS ${what} ≤ ${limitMib} MiB: ${check(kb / 1024 <= limitMib)} (${fmt.mib(kb)} MiB)${note}`;
  };
  return [
    line("clean", clean.get(trib)!.rssKb, 100),
    line("no-op", median(noop.get(trib)!.map((r) => r.rssKb ?? NaN)), 40),
  ];
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

// ---------------------------------------------------------------------------------------------------
// Chain: per-hop latency

/**
 * A chain of trivial tasks, each reading its predecessor's output: one task ready at a time, so wall / n
 * is what one step costs on a critical path (W1 measures throughput instead).
 */
export function chainSection(o: SectionOptions, n = o.quick ? 100 : 300): string {
  const w = chainWorkload(n);
  const tools = o.tools.flatMap((t) => (t.withoutCache ? [t, t.withoutCache] : [t]));
  const reps = repsOf(o, 5, 3);
  const dirs = tools.map((t) => materialize(w, t, 1));
  const walls = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    progress(`chain: ${n} tasks, rep ${rep + 1}/${reps}`);
    tools.forEach((tool, k) => walls.get(tool.name)!.push(cleanBuild(tool, w, dirs[k]!, 1).ms));
  }
  const mk = findMake(o.tools);
  const wall = (name: string): number => median(walls.get(name)!);
  const rows = tools.map((t) => [
    t.name,
    fmt.ms(wall(t.name)),
    (wall(t.name) / n).toFixed(2),
    mk ? fmt.ratio(wall(t.name) / wall(mk.name)) : "–",
  ]);
  return [
    heading(
      `Chain: ${n} trivial tasks, each reading the one before (clean build, -j1)`,
      `Median of ${reps} reps; ${toolList(tools)} ran in this invocation, interleaved. Outputs and tool state ` +
        `are deleted before each run (untimed). Wall includes each tool's start-up; ms/hop = wall / ${n}, ` +
        `the latency of one step on a critical path (a task's end to the next one's end).`,
    ),
    table(["tool", "wall", "ms/hop", "÷ make"], rows),
  ].join("\n");
}
