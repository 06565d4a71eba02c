/**
 * Peer tools (make, ninja, xargs -P) on the shared workloads: materializing a workload into a work dir
 * with a Makefile, a build.ninja and xargs level files, and running one tool on one scenario (clean
 * build, no-op, touch-source, clock skew). A tool is a {@link ToolRunner}: adding Tributary's CLI is one
 * more entry ({@link tributaryRunner}).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateFlow } from "./flowgen.js";
import { BENCH_TMP, mustTime, type Timed } from "./util.js";
import type { Workload, WorkloadNode } from "./workloads.js";

/** How to run one build tool in a materialized work dir. */
export interface ToolRunner {
  /** Shown in tables, e.g. "make -rR". */
  name: string;
  /** Work dir prefix: `<tmp>/tributary-bench/<workload>/<key>-j<N>`. */
  key: string;
  /** The /bin/sh command line that builds every sink at -jN; it runs with cwd = the work dir. */
  build(dir: string, j: number): string;
  /** Writes tool-specific files beyond the Makefile, build.ninja and xargs levels (e.g. a flow file). */
  prepare?(w: Workload, dir: string): void;
  /** Tool state (relative paths) deleted before a clean build, e.g. `.ninja_log`. */
  reset?: string[];
  /** false: the tool has no up-to-date check (reruns everything); no-op and touch rows are n/a. */
  upToDate: boolean;
  /** The same tool with its cache off (neither read nor written), for a tool that has a cache. */
  withoutCache?: ToolRunner;
}

export const make: ToolRunner = {
  name: "make -rR",
  key: "make",
  build: (_dir, j) => `make -rR -s -j${j} all`,
  upToDate: true,
};

export const ninja: ToolRunner = {
  name: "ninja",
  key: "ninja",
  build: (_dir, j) => `ninja --quiet -j${j}`,
  reset: [".ninja_log", ".ninja_deps"],
  upToDate: true,
};

export const xargs: ToolRunner = {
  name: "xargs -P",
  key: "xargs",
  build: (_dir, j) => `for f in xargs/level-*.txt; do xargs -d '\\n' -n1 -P${j} sh -c < "$f" || exit 1; done`,
  upToDate: false,
};

export const PEERS: ToolRunner[] = [make, ninja, xargs];

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** {@link ToolRunner.key} of {@link tributaryRunner}: sections find the row their targets are about by it. */
export const TRIBUTARY_KEY = "tributary";

/**
 * Tributary's CLI on the flow file generated from the workload (`pipeline.flow`), cache in
 * `.tributary/` (deleted before a clean build). `cli` defaults to $TRIBUTARY_BENCH_CLI, else this
 * checkout's bin/tributary.js. `withoutCache` runs `--no-cache`: a clean build with the cache on also
 * pays for storing every result, which make and ninja never do.
 */
export function tributaryRunner(cli = tributaryCli(), cache = true): ToolRunner {
  return {
    name: cache ? "tributary" : "tributary --no-cache",
    key: cache ? TRIBUTARY_KEY : `${TRIBUTARY_KEY}-nocache`,
    build: (_dir, j) => `${cli} run pipeline.flow -j ${j}${cache ? "" : " --no-cache"}`,
    prepare: (w, dir) => writeFileSync(join(dir, "pipeline.flow"), generateFlow(w)),
    reset: [".tributary"],
    // Without a cache nothing is up to date: every run reruns every step.
    upToDate: cache,
    ...(cache ? { withoutCache: tributaryRunner(cli, false) } : {}),
  };
}

/** The command that runs Tributary's CLI: $TRIBUTARY_BENCH_CLI, else this checkout's bin/tributary.js. */
export function tributaryCli(): string {
  return process.env.TRIBUTARY_BENCH_CLI ?? `node ${join(REPO, "bin", "tributary.js")}`;
}

/** True when the CLI entry point the Tributary runner needs has been built (or is given by env). */
export function tributaryCliBuilt(): boolean {
  return process.env.TRIBUTARY_BENCH_CLI !== undefined || existsSync(join(REPO, "dist", "cli", "bin.js"));
}

// ---------------------------------------------------------------------------------------------------
// Graph helpers

/** Nodes in a topological order; stable (file order among ready nodes). Throws on a cycle. */
export function topoOrder(w: Workload): WorkloadNode[] {
  const byId = new Map(w.nodes.map((n) => [n.id, n]));
  const indeg = new Map<string, number>();
  const succ = new Map<string, string[]>();
  for (const n of w.nodes) {
    indeg.set(n.id, n.deps.length);
    for (const d of n.deps) {
      if (!byId.has(d)) throw new Error(`${w.id}: ${n.id} depends on unknown node ${d}`);
      (succ.get(d) ?? succ.set(d, []).get(d)!).push(n.id);
    }
  }
  const order: WorkloadNode[] = [];
  const ready = w.nodes.filter((n) => n.deps.length === 0).map((n) => n.id);
  // Already topological in every shared workload, so a plain FIFO keeps file order.
  for (let k = 0; k < ready.length; k++) {
    const id = ready[k]!;
    order.push(byId.get(id)!);
    for (const s of succ.get(id) ?? []) {
      const left = indeg.get(s)! - 1;
      indeg.set(s, left);
      if (left === 0) ready.push(s);
    }
  }
  if (order.length !== w.nodes.length) throw new Error(`${w.id}: the graph has a cycle`);
  return order;
}

/** Topological level of each node: 0 without deps, else 1 + the deepest dep. */
export function levels(w: Workload): Map<string, number> {
  const level = new Map<string, number>();
  for (const n of topoOrder(w)) {
    level.set(
      n.id,
      n.deps.reduce((m, d) => Math.max(m, level.get(d)! + 1), 0),
    );
  }
  return level;
}

/** Nodes nobody depends on, in file order. */
export function sinkNodes(w: Workload): WorkloadNode[] {
  const used = new Set(w.nodes.flatMap((n) => n.deps));
  return w.nodes.filter((n) => !used.has(n.id));
}

/** Ids of the nodes that (transitively) read `path`: what a correct incremental build reruns. */
export function coneOf(w: Workload, path: string): Set<string> {
  const cone = new Set<string>();
  for (const n of topoOrder(w)) {
    if (n.inputs.includes(path) || n.deps.some((d) => cone.has(d))) cone.add(n.id);
  }
  return cone;
}

/** The first `count` nodes in topological order (closed under deps): a smaller workload for --quick. */
export function truncateWorkload(w: Workload, count: number): Workload {
  if (count >= w.nodes.length) return w;
  const nodes = topoOrder(w).slice(0, count);
  return { ...w, id: `${w.id}-${count}`, title: `${w.title} (first ${count} nodes)`, nodes };
}

function outputsOf(w: Workload): Map<string, WorkloadNode> {
  return new Map(w.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
}

/** What a node must wait for: its inputs plus the outputs of its deps (W3's deps read no file). */
function prerequisites(n: WorkloadNode, byId: Map<string, WorkloadNode>): string[] {
  const pre = new Set(n.inputs);
  for (const d of n.deps) for (const o of byId.get(d)!.outputs) pre.add(o);
  return [...pre];
}

// ---------------------------------------------------------------------------------------------------
// Build files

/** A Makefile for `make -rR`: one rule per node (grouped targets `&:` for several outputs), and `all`. */
export function makefile(w: Workload): string {
  const byId = new Map(w.nodes.map((n) => [n.id, n]));
  const lines = [
    `# generated from workload ${w.id} by bench/peers.ts`,
    ".PHONY: all",
    `all: ${sinkNodes(w)
      .flatMap((n) => n.outputs)
      .join(" ")}`,
    "",
  ];
  for (const n of w.nodes) {
    const sep = n.outputs.length > 1 ? "&:" : ":";
    lines.push(`${n.outputs.join(" ")} ${sep} ${prerequisites(n, byId).join(" ")}`.trimEnd());
    lines.push(`\t${n.command.replace(/\$/g, "$$$$")}`);
  }
  return lines.join("\n") + "\n";
}

const ninjaEscape = (s: string): string => s.replace(/\$/g, "$$$$");
const ninjaPath = (s: string): string => ninjaEscape(s).replace(/([ :])/g, "$$$1");

/** A build.ninja with one generic rule (`command = $cmd`) and a default `all`. */
export function ninjaFile(w: Workload): string {
  const byId = new Map(w.nodes.map((n) => [n.id, n]));
  const lines = [`# generated from workload ${w.id} by bench/peers.ts`, "rule cmd", "  command = $cmd", ""];
  for (const n of w.nodes) {
    const pre = prerequisites(n, byId).map(ninjaPath).join(" ");
    lines.push(`build ${n.outputs.map(ninjaPath).join(" ")}: cmd${pre ? " " + pre : ""}`);
    lines.push(`  cmd = ${ninjaEscape(n.command)}`);
  }
  const sinks = sinkNodes(w)
    .flatMap((n) => n.outputs)
    .map(ninjaPath);
  lines.push("", `build all: phony ${sinks.join(" ")}`, "default all");
  return lines.join("\n") + "\n";
}

/** One file per topological level, one command per line (level-barrier execution with xargs -P). */
export function xargsLevels(w: Workload): string[] {
  const level = levels(w);
  const files: string[][] = [];
  for (const n of w.nodes) (files[level.get(n.id)!] ??= []).push(n.command);
  return files.map((cmds) => cmds.join("\n") + "\n");
}

export function workDir(w: Workload, tool: ToolRunner, j: number): string {
  return join(BENCH_TMP, w.id, `${tool.key}-j${j}`);
}

/**
 * A fresh work dir for one tool: sources, empty output dirs, Makefile, build.ninja, xargs/level-*.txt
 * and whatever the tool adds. Anything from an earlier invocation is deleted first.
 */
export function materialize(w: Workload, tool: ToolRunner, j: number): string {
  const dir = workDir(w, tool, j);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeSources(w, dir);
  for (const d of w.outputDirs) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "Makefile"), makefile(w));
  writeFileSync(join(dir, "build.ninja"), ninjaFile(w));
  mkdirSync(join(dir, "xargs"));
  xargsLevels(w).forEach((text, k) =>
    writeFileSync(join(dir, "xargs", `level-${String(k).padStart(3, "0")}.txt`), text),
  );
  tool.prepare?.(w, dir);
  return dir;
}

function writeSources(w: Workload, dir: string, override: Record<string, string> = {}): void {
  for (const f of w.files) {
    const p = join(dir, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, override[f.path] ?? f.content);
  }
}

/** `rm -rf <outputDirs> && mkdir -p <outputDirs>`, plus the tool's own state. */
export function resetOutputs(w: Workload, dir: string, tool: ToolRunner): void {
  for (const d of w.outputDirs) {
    rmSync(join(dir, d), { recursive: true, force: true });
    mkdirSync(join(dir, d), { recursive: true });
  }
  for (const r of tool.reset ?? []) rmSync(join(dir, r), { recursive: true, force: true });
}

/** Declared outputs that are missing. */
export function missingOutputs(w: Workload, dir: string): string[] {
  return w.nodes.flatMap((n) => n.outputs).filter((o) => !existsSync(join(dir, o)));
}

/** Nanosecond mtimes of every declared output (absent: -1). */
export function outputMtimes(w: Workload, dir: string): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const n of w.nodes) {
    for (const o of n.outputs) {
      const st = statSync(join(dir, o), { bigint: true, throwIfNoEntry: false });
      m.set(o, st ? st.mtimeNs : -1n);
    }
  }
  return m;
}

function rewritten(before: Map<string, bigint>, after: Map<string, bigint>): number {
  let k = 0;
  for (const [o, t] of after) if (before.get(o) !== t) k++;
  return k;
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

export interface BuildRun extends Timed {
  /** Declared outputs whose mtime changed during the build. */
  rewrote: number;
}

function build(tool: ToolRunner, w: Workload, dir: string, j: number, what: string): BuildRun {
  const before = outputMtimes(w, dir);
  const r = mustTime(tool.build(dir, j), dir, `${tool.name} ${w.id} ${what}`);
  return { ...r, rewrote: rewritten(before, outputMtimes(w, dir)) };
}

/** Deletes outputs and tool state (untimed), builds, and checks that every output exists. */
export function cleanBuild(tool: ToolRunner, w: Workload, dir: string, j: number): BuildRun {
  resetOutputs(w, dir, tool);
  const r = build(tool, w, dir, j, "clean build");
  const missing = missingOutputs(w, dir);
  if (missing.length > 0) {
    throw new Error(
      `${tool.name} ${w.id}: clean build left ${missing.length} outputs missing (${missing.slice(0, 3).join(", ")}…)`,
    );
  }
  return r;
}

/** Builds again with nothing changed. */
export function noopBuild(tool: ToolRunner, w: Workload, dir: string, j: number): BuildRun {
  return build(tool, w, dir, j, "no-op");
}

/** `touch <path>` (untimed), then builds. */
export function touchBuild(tool: ToolRunner, w: Workload, dir: string, j: number, path: string): BuildRun {
  const now = new Date();
  utimesSync(join(dir, path), now, now);
  return build(tool, w, dir, j, `touch ${path}`);
}

export interface SkewResult {
  /** Node ids appended to the run log by the rebuild after the content change with an old mtime. */
  skewReran: string[];
  skewCorrect: boolean;
  /** Node ids rerun after `touch` without a content change. */
  touchReran: string[];
  touchCorrect: boolean;
  /** Outputs that differed from a reference build, per check. */
  stale: { skew: string[]; touch: string[] };
}

/**
 * The W4 check: after a build, writes `bench.newContent` into `bench.source` and sets its mtime to
 * `bench.oldDate`, rebuilds, and compares every declared output with a reference build from scratch;
 * then touches the source without changing it and rebuilds. What reran comes from the run log
 * (`bench.log`, default log/runs.txt) that every command appends its id to.
 */
export function skewCheck(tool: ToolRunner, w: Workload, dir: string, j: number): SkewResult {
  const source: string = w.bench.source;
  const log = join(dir, (w.bench.log as string | undefined) ?? "log/runs.txt");
  const logLines = (): string[] =>
    existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
  const expected = referenceOutputs(w, { [source]: w.bench.newContent as string });
  const staleOutputs = (): string[] =>
    [...expected]
      .filter(([o, text]) => !existsSync(join(dir, o)) || readFileSync(join(dir, o), "utf8") !== text)
      .map(([o]) => o);

  cleanBuild(tool, w, dir, j);
  const src = join(dir, source);
  writeFileSync(src, w.bench.newContent as string);
  const old = new Date(`${w.bench.oldDate as string}T00:00:00Z`);
  utimesSync(src, old, old);
  let seen = logLines().length;
  build(tool, w, dir, j, "after clock skew");
  const skewReran = logLines().slice(seen);
  const skewStale = staleOutputs();

  seen = logLines().length;
  const now = new Date();
  utimesSync(src, now, now);
  build(tool, w, dir, j, "after touch");
  const touchReran = logLines().slice(seen);
  const touchStale = staleOutputs();
  return {
    skewReran,
    skewCorrect: skewStale.length === 0,
    touchReran,
    touchCorrect: touchStale.length === 0,
    stale: { skew: skewStale, touch: touchStale },
  };
}

/** Outputs of a from-scratch sequential run of every command (with sources overridden): the truth. */
export function referenceOutputs(w: Workload, override: Record<string, string> = {}): Map<string, string> {
  const dir = join(BENCH_TMP, w.id, "reference");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeSources(w, dir, override);
  for (const d of w.outputDirs) mkdirSync(join(dir, d), { recursive: true });
  for (const n of topoOrder(w)) {
    const r = spawnSync("/bin/sh", ["-c", n.command], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`reference build of ${w.id}: ${n.id} failed: ${r.stderr}`);
  }
  const out = new Map<string, string>();
  for (const [o] of outputsOf(w)) out.set(o, readFileSync(join(dir, o), "utf8"));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The spawn fixture: N `true` invocations, no files

export interface SpawnFixture {
  dir: string;
  /** Tool name -> command line (cwd = dir) that runs `true` n times at -jN. */
  commands: { name: string; cmd: string; reset?: string[] }[];
}

/** A Makefile and build.ninja with n phony `true` targets, and a list of n lines for `xargs -n1 true`. */
export function spawnFixture(n: number, j: number): SpawnFixture {
  const dir = join(BENCH_TMP, `spawn-${n}`, `peers-j${j}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ids = Array.from({ length: n }, (_, i) => `t${String(i).padStart(4, "0")}`);
  writeFileSync(
    join(dir, "Makefile"),
    [`.PHONY: all ${ids.join(" ")}`, `all: ${ids.join(" ")}`, ...ids.map((id) => `${id}:\n\ttrue`)].join(
      "\n",
    ) + "\n",
  );
  writeFileSync(
    join(dir, "build.ninja"),
    [
      "rule true",
      "  command = true",
      ...ids.map((id) => `build ${id}: true`),
      `build all: phony ${ids.join(" ")}`,
      "default all",
    ].join("\n") + "\n",
  );
  writeFileSync(join(dir, "true.txt"), ids.join("\n") + "\n");
  return {
    dir,
    commands: [
      { name: `xargs -P${j} -n1 true`, cmd: `xargs -d '\\n' -n1 -P${j} true < true.txt` },
      { name: `make -rR -j${j}`, cmd: `make -rR -s -j${j} all` },
      { name: `ninja -j${j}`, cmd: `ninja --quiet -j${j}`, reset: [".ninja_log", ".ninja_deps"] },
    ],
  };
}
