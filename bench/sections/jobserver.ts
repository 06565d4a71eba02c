import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_TMP, fmt, heading, median, progress, table } from "../util.js";
import { check, checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

/** Marks the steps' shells in /proc, so the sampler counts only them. */
const MARKER = "tributary-jobserver-bench";

/**
 * `steps` sleeping steps named `name`, each logging its interval to `log` (exact overlap) and marked
 * (sampled).
 */
export function sleepMap(name: string, steps: number, sleepS: number, log: string): string {
  const items = Array.from({ length: steps }, (_, k) => k).join(", ");
  return (
    `in ${name}_items: List<Int> = [${items}]\n` +
    `${name} = for i in ${name}_items: sh("echo + $(date +%s%N) >> ${log}; sleep ${sleepS}; ` +
    `echo - $(date +%s%N) >> ${log}; : ${MARKER}") with cache: false\n`
  );
}

/**
 * The most intervals of the log (`+ ns` / `- ns` lines) that overlap, how many there are, and the ms
 * from the first start to the last end.
 */
export function logOverlap(text: string): { peak: number; steps: number; spanMs: number } {
  const events = text
    .trim()
    .split("\n")
    .map((l) => ({ start: l.startsWith("+"), at: BigInt(l.slice(2)) }))
    .sort((a, b) => (a.at === b.at ? Number(a.start) - Number(b.start) : a.at < b.at ? -1 : 1));
  let running = 0;
  let peak = 0;
  for (const e of events) {
    running += e.start ? 1 : -1;
    peak = Math.max(peak, running);
  }
  const spanMs = events.length === 0 ? 0 : Number(events[events.length - 1]!.at - events[0]!.at) / 1e6;
  return { peak, steps: events.filter((e) => e.start).length, spanMs };
}

/**
 * The marked step shells running now (a scan of /proc). A shell forks copies of itself for `$(...)`,
 * with the same command line: only a marked process whose parent is not marked is a step.
 */
function markedNow(): number {
  const parentOf = new Map<string, string>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(MARKER)) continue;
      // The parent pid is the 4th field of stat, after the command name in parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      parentOf.set(pid, stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!);
    } catch {
      // Gone between the listing and the read.
    }
  }
  let n = 0;
  for (const [pid, parent] of parentOf) {
    if (parentOf.has(parent)) continue;
    // The scan is not atomic: a step that ended while it ran, and the one started in its place (a higher
    // pid, listed later), would both count. Only those still running at its end do.
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(MARKER)) n++;
    } catch {
      // Ended during the scan.
    }
  }
  return n;
}

/** Runs `cmd` in `dir` to its end, sampling the marked processes every 10 ms: wall ms and peak seen. */
function sampled(cmd: string, dir: string): Promise<{ ms: number; peak: number }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, MAKEFLAGS: "", MFLAGS: "", MAKELEVEL: "" };
    const t0 = performance.now();
    const child = spawn("/bin/sh", ["-c", cmd], { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, markedNow())), 10);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      clearInterval(timer);
      if (code !== 0)
        reject(new Error(`jobserver: \`${cmd}\` in ${dir} exited ${code}\n${stderr.slice(-2000)}`));
      else resolve({ ms, peak });
    });
  });
}

/**
 * The jobserver client under make: `make -j4` runs two `tributary run -j4` sub-runs side by side (each
 * would run 4 steps at once on its own); through make's jobserver the tree runs at most 4. Beside it,
 * one `tributary run -j4` of the union of both flows, the makespan to match.
 */
export async function jobserverSection(o: SectionOptions): Promise<string> {
  const warning = checkDist();
  // Long enough that start-up (two Node processes beside each other, against one) and the last round
  // (the sub-run that ends last may run fewer than 4 steps at the end) weigh little against the whole.
  const steps = o.quick ? 24 : 160;
  const sleepS = 0.1;
  const j = 4;
  const reps = repsOf(o, 5);
  const dir = join(BENCH_TMP, "jobserver");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log = join(dir, "log");
  // One project each: a project runs one run at a time.
  const flows = {
    a: `${sleepMap("a", steps, sleepS, log)}out a\n`,
    b: `${sleepMap("b", steps, sleepS, log)}out b\n`,
    union: `${sleepMap("a", steps, sleepS, log)}${sleepMap("b", steps, sleepS, log)}out a, b\n`,
  };
  for (const [name, text] of Object.entries(flows)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "pipeline.flow"), text);
  }
  const tributary = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, "bin", "tributary.js"))}`;
  writeFileSync(
    join(dir, "Makefile"),
    `all: a b\na b:\n\t+@cd $@ && ${tributary} run -j ${j} --quiet\n.PHONY: all a b\n`,
  );
  const runs = {
    make: `make -j${j}`,
    union: `cd union && ${tributary} run -j ${j} --quiet`,
  };
  const results = {
    make: [] as { ms: number; peak: number; exact: number; spanMs: number }[],
    union: [] as { ms: number; peak: number; exact: number; spanMs: number }[],
  };
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of ["make", "union"] as const) {
      progress(`jobserver: ${kind} rep ${rep + 1}/${reps}`);
      rmSync(log, { force: true });
      const r = await sampled(runs[kind], dir);
      const exact = logOverlap(readFileSync(log, "utf8"));
      if (exact.steps !== 2 * steps)
        throw new Error(`jobserver: ${kind} ran ${exact.steps} of ${2 * steps} steps`);
      results[kind].push({ ...r, exact: exact.peak, spanMs: exact.spanMs });
    }
  }
  const row = (name: string, rs: typeof results.make): string[] => [
    name,
    fmt.ms(median(rs.map((r) => r.ms))),
    fmt.ms(median(rs.map((r) => r.spanMs))),
    String(Math.max(...rs.map((r) => r.peak))),
    String(Math.max(...rs.map((r) => r.exact))),
  ];
  const makeMs = median(results.make.map((r) => r.ms));
  const unionMs = median(results.union.map((r) => r.ms));
  const peak = Math.max(...results.make.map((r) => Math.max(r.peak, r.exact)));
  const ratio = makeMs / unionMs;
  return [
    heading(
      `Jobserver: \`make -j${j}\` running two \`tributary run -j${j}\` sub-runs`,
      `Two flows of ${steps} steps each (\`sleep ${sleepS}\`), as two sub-runs of one \`make -j${j}\` (recipe ` +
        `lines with \`+\`: make passes its jobserver on), beside one \`tributary run -j${j}\` of the union of both. ` +
        `Median of ${reps} reps, interleaved; makespan is the wall time of the command (Node start-up ` +
        `included in both), the steps' span from the first step's start to the last one's end. Peak concurrent steps: sampled from ` +
        `/proc every 10 ms, and exact from the intervals each step logs.`,
    ),
    ...(warning ? [warning] : []),
    table(
      ["run", "makespan", "steps' span", "peak steps (sampled)", "peak steps (intervals)"],
      [
        row(`make -j${j}: 2 × tributary run -j${j}`, results.make),
        row(`tributary run -j${j} (union)`, results.union),
      ],
    ),
    "",
    `Targets: peak ≤ ${j} under make: ${check(peak <= j)} (${peak}); makespan within 5% of the union run: ` +
      `${check(ratio <= 1.05)} (${fmt.ratio(ratio)}×).`,
  ].join("\n");
}
