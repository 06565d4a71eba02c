/**
 * Work dirs of the fan-out section (issue 12), each holding one workload for every tool:
 *
 * - the map fixture: `list.txt` with n items, one trivial command per item (`echo ITEM`) for
 *   `xargs -P`, GNU `parallel` and a flow with `for line in lines(file("list.txt")): exec("echo", line)`;
 * - the pattern-rule fixture: n C-like sources `src/*.c`, each "compiled" by a cheap stand-in for
 *   `cc -c` (`cp src/X.c build/X.o`, which also appends the source to `log/runs.txt`, so every tool's
 *   reruns can be counted the same way), as a make pattern rule, a generated build.ninja and a flow
 *   with `for c in glob("src/*.c")`.
 *
 * A Tributary build without the `for` construct (an older one, through TRIBUTARY_BENCH_CLI) rejects these
 * flow files in `tributary check`, and the section says so (see {@link flowSupported}).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_TMP } from "../util.js";

// ---------------------------------------------------------------------------------------------------
// 1. A map of a trivial command

export interface MapFixture {
  dir: string;
  n: number;
  /** The flow file (cwd = dir). */
  flow: string;
}

/** Item k of the list: `item-00042`. */
export const mapItem = (k: number): string => `item-${String(k).padStart(5, "0")}`;

/** The flow: one `echo` per non-empty line of list.txt; its value is the list of their stdouts. */
export function mapFlow(): string {
  return [
    "# bench/fanout/fixtures.ts: one trivial command per line of list.txt (issue 12, benchmark 1)",
    'lens = for line in lines(file("list.txt")): exec("echo", line)',
    "out lens",
    "",
  ].join("\n");
}

export function mapFixture(n: number): MapFixture {
  const dir = join(BENCH_TMP, `fanout-map-${n}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "list.txt"), Array.from({ length: n }, (_, k) => mapItem(k)).join("\n") + "\n");
  writeFileSync(join(dir, "pipeline.flow"), mapFlow());
  return { dir, n, flow: "pipeline.flow" };
}

// ---------------------------------------------------------------------------------------------------
// 2. A pattern-rule build

/** The stand-in for `cc -c $in -o $out`, the same shell line for every tool: copy, then log the source. */
export const compileLine = (src: string, obj: string): string =>
  `cp ${src} ${obj} && echo ${src} >> log/runs.txt`;

export const RUN_LOG = "log/runs.txt";

export interface RuleFixture {
  dir: string;
  n: number;
  sources: string[];
}

/** Source k: `src/c0042.c`. */
export const ruleSource = (k: number): string => `src/c${String(k).padStart(4, "0")}.c`;
const objectOf = (src: string): string => src.replace(/^src\/(.*)\.c$/, "build/$1.o");

/** A Makefile with one pattern rule (`build/%.o: src/%.c`) over `$(wildcard src/*.c)`. */
export function ruleMakefile(): string {
  return [
    "# bench/fanout/fixtures.ts: a pattern rule over every src/*.c (issue 12, benchmark 2)",
    "SRCS := $(wildcard src/*.c)",
    "OBJS := $(patsubst src/%.c,build/%.o,$(SRCS))",
    ".PHONY: all",
    "all: $(OBJS)",
    "build/%.o: src/%.c",
    `\t${compileLine("$<", "$@")}`,
    "",
  ].join("\n");
}

/** A build.ninja with one rule and one build line per source. */
export function ruleNinja(sources: string[]): string {
  return [
    "# bench/fanout/fixtures.ts: one rule, one build line per source (issue 12, benchmark 2)",
    "rule cc",
    `  command = ${compileLine("$in", "$out")}`,
    "",
    ...sources.map((s) => `build ${objectOf(s)}: cc ${s}`),
    "",
  ].join("\n");
}

/** The flow: one item per source, the same shell line as make's recipe. */
export function ruleFlow(): string {
  return [
    "# bench/fanout/fixtures.ts: one item per src/*.c (issue 12, benchmark 2)",
    'objs = for c in glob("src/*.c"): sh("cp ${c} ${output("build/${c.stem}.o")} && echo ${c} >> log/runs.txt")',
    "out objs",
    "",
  ].join("\n");
}

/** A flow without `for`: one `sh` line per source (what a generator would write today), for reference. */
export function ruleFlowUnrolled(sources: string[]): string {
  const lines = sources.map(
    (s) =>
      `${s.replace(/^src\/(.*)\.c$/, "o_$1")} = sh("cp \${file("${s}")} \${output("${objectOf(s)}")} && echo ${s} >> log/runs.txt")`,
  );
  const ids = sources.map((s) => s.replace(/^src\/(.*)\.c$/, "o_$1"));
  return [
    "# bench/fanout/fixtures.ts: one sh line per src/*.c, without `for` (issue 12, benchmark 2)",
    ...lines,
    `out ${ids.join(", ")}`,
    "",
  ].join("\n");
}

const sourceText = (k: number, edit = ""): string =>
  `/* ${ruleSource(k)} */\nint f${k}(int x) { return x * ${k % 97} + ${k}; }\n${edit}`;

/** `<tmp>/tributary-bench/fanout-rule-<n>/<tool>`: sources, empty build/ and log/, and the tool's file. */
export function ruleFixture(n: number, tool: string): RuleFixture {
  const dir = join(BENCH_TMP, `fanout-rule-${n}`, tool);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "src"), { recursive: true });
  const sources = Array.from({ length: n }, (_, k) => ruleSource(k));
  sources.forEach((s, k) => writeFileSync(join(dir, s), sourceText(k)));
  writeFileSync(join(dir, "Makefile"), ruleMakefile());
  writeFileSync(join(dir, "build.ninja"), ruleNinja(sources));
  writeFileSync(join(dir, "pipeline.flow"), ruleFlow());
  writeFileSync(join(dir, "unrolled.flow"), ruleFlowUnrolled(sources));
  resetRule(dir, []);
  return { dir, n, sources };
}

/** Deletes build/, log/ and the tool's state, and recreates the empty dirs (untimed, before a clean build). */
export function resetRule(dir: string, state: string[]): void {
  for (const d of ["build", "log", ...state]) rmSync(join(dir, d), { recursive: true, force: true });
  mkdirSync(join(dir, "build"));
  mkdirSync(join(dir, "log"));
}

/** Lines of log/runs.txt: one per stand-in compile since the last reset. */
export function logLines(dir: string): string[] {
  const p = join(dir, RUN_LOG);
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
}

/** Appends a line to source k: its content (and mtime) change. */
export function editSource(dir: string, k: number, stamp: string): void {
  writeFileSync(join(dir, ruleSource(k)), sourceText(k, `/* ${stamp} */\n`));
}

/** Objects that are missing or differ from their source. */
export function wrongObjects(f: RuleFixture): string[] {
  return f.sources.filter((s) => {
    const o = join(f.dir, objectOf(s));
    return !existsSync(o) || readFileSync(o, "utf8") !== readFileSync(join(f.dir, s), "utf8");
  });
}

// ---------------------------------------------------------------------------------------------------

/**
 * Whether this build of Tributary accepts a flow file: `tributary check` in its dir. `reason` is the
 * first line of the diagnostic when it does not (e.g. the `for` construct is not on this branch).
 */
export function flowSupported(cli: string, dir: string, flow: string): { ok: boolean; reason: string } {
  const r = spawnSync("/bin/sh", ["-c", `${cli} check ${flow}`], { cwd: dir, encoding: "utf8" });
  if (r.status === 0) return { ok: true, reason: "" };
  const text = `${r.stdout}${r.stderr}`.split("\n").find((l) => l.trim() !== "") ?? `exit ${r.status}`;
  return { ok: false, reason: text.trim() };
}
