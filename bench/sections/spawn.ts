import { rmSync } from "node:fs";
import { join } from "node:path";
import { spawnFixture } from "../peers.js";
import { fmt, heading, median, mustTime, progress, table, type Timed } from "../util.js";
import { check, checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

interface Entry {
  name: string;
  cmd: string;
  cwd: string;
  /** Node children print JSON with their in-process run time. */
  node?: boolean;
  reset?: string[];
}

interface Sample {
  wallMs: number;
  rssKb?: number;
  runMs?: number;
}

/**
 * Per-task overhead: N `true` processes at -j2 through Tributary's engine (`t.exec(id, ["true"])`), beside
 * xargs, make and ninja, and a plain child_process.spawn loop as the floor.
 */
export function spawnSection(o: SectionOptions): string {
  const warning = checkDist();
  const n = 1000;
  const j = 2;
  const reps = repsOf(o, 5);
  const fx = spawnFixture(n, j);
  const child = join(REPO, "bench", "child.mjs");
  const entries: Entry[] = [
    ...fx.commands.map((c) => ({ ...c, cwd: fx.dir })),
    {
      name: "node child_process.spawn loop (stdio ignore)",
      cmd: `node ${child} spawn-floor ${n} ${j} ignore`,
      cwd: REPO,
      node: true,
    },
    {
      name: '_tributary engine, `spawn: "direct"`_',
      cmd: `node ${child} spawn-engine ${n} ${j} direct`,
      cwd: REPO,
      node: true,
    },
    // Last: the row the targets are checked on.
    {
      name: "**tributary engine** (`t.exec`, default executor)",
      cmd: `node ${child} spawn-engine ${n} ${j}`,
      cwd: REPO,
      node: true,
    },
  ];
  const samples = new Map<string, Sample[]>(entries.map((e) => [e.name, []]));
  const once = (e: Entry): Sample => {
    for (const r of e.reset ?? []) rmSync(join(e.cwd, r), { force: true });
    const r: Timed = mustTime(e.cmd, e.cwd, `spawn: ${e.name}`);
    if (!e.node) return { wallMs: r.ms, rssKb: r.rssKb };
    const res = JSON.parse(r.stdout) as { ok: boolean; runMs: number; peakRssKb: number };
    if (!res.ok) throw new Error(`spawn: ${e.name} did not run every task`);
    return { wallMs: r.ms, rssKb: r.rssKb, runMs: res.runMs };
  };
  if (!o.quick) {
    progress("spawn: warm-up round");
    for (const e of entries) once(e);
  }
  for (let rep = 0; rep < reps; rep++) {
    progress(`spawn: rep ${rep + 1}/${reps}`);
    for (const e of entries) samples.get(e.name)!.push(once(e));
  }
  const wall = (name: string): number => median(samples.get(name)!.map((s) => s.wallMs));
  const xargsMs = wall(entries[0]!.name);
  const makeMs = wall(entries[1]!.name);
  const rows: string[][] = [];
  for (const e of entries) {
    const ss = samples.get(e.name)!;
    const w = wall(e.name);
    const run = e.node ? median(ss.map((s) => s.runMs!)) : undefined;
    const rss = ss.some((s) => s.rssKb !== undefined) ? median(ss.map((s) => s.rssKb ?? NaN)) : undefined;
    rows.push([
      e.name,
      fmt.ms(w),
      (w / n).toFixed(2),
      fmt.ratio(w / xargsMs),
      fmt.ratio(w / makeMs),
      run === undefined ? "–" : `${fmt.ms(run)} (${(run / n).toFixed(2)})`,
      fmt.mib(rss),
    ]);
  }
  const engine = entries[entries.length - 1]!.name;
  const engineWall = wall(engine);
  const engineRun = median(samples.get(engine)!.map((s) => s.runMs!));
  const floorRun = median(samples.get(entries[3]!.name)!.map((s) => s.runMs!));
  return [
    heading(
      `Spawn: ${n.toLocaleString("en")} \`true\` processes at -j${j}`,
      `Median of ${reps} reps; peers ran in this invocation, interleaved (every rep runs each tool once` +
        `${o.quick ? "" : "; one untimed warm-up round first"}). Wall = around the whole command from the ` +
        `harness, incl. \`/usr/bin/time\` (peak RSS) and, for node rows, Node start-up and imports (~40-60 ms); ` +
        `"in-process run" = the run alone, timed inside the node process. make runs \`true\` without a shell, ` +
        `ninja through /bin/sh -c, xargs directly; the engine's default executor starts processes through ` +
        `its long-lived job shell (process server), \`spawn: "direct"\` with child_process.spawn.`,
    ),
    ...(warning ? [warning] : []),
    table(["tool", "wall", "ms/task", "÷ xargs", "÷ make", "in-process run (ms/task)", "peak RSS MiB"], rows),
    "",
    `Targets (tributary, whole process): ≤ 1.5× xargs: ${check(engineWall <= 1.5 * xargsMs)} ` +
      `(${fmt.ratio(engineWall / xargsMs)}×); no slower than make: ${check(engineWall <= makeMs)} ` +
      `(${fmt.ratio(engineWall / makeMs)}×). Run alone: ${fmt.ratio(engineRun / xargsMs)}× xargs, ` +
      `${fmt.ratio(engineRun / makeMs)}× make, ${fmt.ratio(engineRun / floorRun)}× a plain child_process.spawn loop.`,
  ].join("\n");
}
