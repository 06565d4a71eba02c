import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { loadedModules } from "../startup/loaded.mjs";
import { BENCH_TMP, fmt, heading, median, progress, table } from "../util.js";
import { checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

/** The start-up target of issue 16: a command's fixed cost within 1.5× of Node's own. */
const TARGET = 1.5;

interface Row {
  name: string;
  args: string[];
  cwd: string;
}

/** A copy of an example in the work dir; a TS-module flow gets tributary-flow and zod linked beside it. */
function example(name: string, modules: boolean, as = name): string {
  const top = join(BENCH_TMP, "startup");
  const dir = join(top, as);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(top, { recursive: true });
  cpSync(join(REPO, "examples", name), dir, {
    recursive: true,
    filter: (src) => !/[/\\](\.tributary|build|out)$/.test(src),
  });
  if (modules) {
    const nm = join(top, "node_modules");
    rmSync(nm, { recursive: true, force: true });
    mkdirSync(nm);
    symlinkSync(REPO, join(nm, "tributary-flow"));
    symlinkSync(join(REPO, "node_modules", "zod"), join(nm, "zod"));
  }
  return dir;
}

/** Issue 16's item 2: a TS-module flow through the CLI within this of its pipeline's own wall time. */
const PIPELINE_TARGET = 1.25;

/**
 * The profile example through the CLI, computing every step (`--no-cache`): the process's wall beside
 * the run's own (`wallMs` of its `run-end` event), what the CLI costs around a service flow.
 */
function profileAroundPipeline(bin: string, reps: number): string {
  const dir = example("profile", true, "profile-computing");
  // Quiet, as a script runs it; the run's own wall time is read from its run record.
  const args = [bin, "run", "profile.flow", "--no-cache", "-q"];
  const walls: number[] = [];
  const pipelines: number[] = [];
  for (let k = 0; k <= reps; k++) {
    progress(`startup: profile example ${k}/${reps}`);
    const t0 = performance.now();
    const out = spawnSync(process.execPath, args, { cwd: dir, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    const wall = performance.now() - t0;
    if (out.status !== 0)
      throw new Error(`startup: the profile example exited ${out.status}: ${String(out.stderr)}`);
    const runs = join(dir, ".tributary", "runs");
    const record = readFileSync(
      join(runs, `${readFileSync(join(runs, "last"), "utf8").trim()}.jsonl`),
      "utf8",
    );
    const end = record
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; summary?: { wallMs: number } })
      .find((e) => e.type === "run-end");
    if (k === 0) continue; // the first run transpiles the module into .tributary/
    walls.push(wall);
    pipelines.push(end!.summary!.wallMs);
  }
  const ratio = median(walls) / median(pipelines);
  return (
    heading(
      "A TS-module flow through the CLI, beside its own pipeline",
      `examples/profile, every step computed (\`run profile.flow --no-cache -q\`); median of ${reps} runs after one that ` +
        `transpiles the module. Pipeline: the run's own wall time (\`wallMs\` of the run-end in its run record). ` +
        `Target (issue 16): the process within ${PIPELINE_TARGET}× of its pipeline.`,
    ) +
    `\n${table(
      ["process wall", "pipeline wall", "ratio", `≤ ${PIPELINE_TARGET}×`],
      [
        [
          fmt.ms(median(walls)),
          fmt.ms(median(pipelines)),
          `${ratio.toFixed(2)}×`,
          ratio <= PIPELINE_TARGET ? "yes" : "**NO**",
        ],
      ],
    )}`
  );
}

/** The harness's environment: bench/run.ts has dropped NODE_EXTRA_CA_CERTS from it (see there). */
const ENV = process.env;

/** Wall time of one run, ms; the command must exit 0. Spawned directly: no shell in the measure. */
function time(r: Row): number {
  const t0 = performance.now();
  const out = spawnSync(process.execPath, r.args, {
    cwd: r.cwd,
    env: ENV,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ms = performance.now() - t0;
  if (out.error) throw out.error;
  if (out.status !== 0) throw new Error(`startup: ${r.name} exited ${out.status}: ${String(out.stderr)}`);
  return ms;
}

/**
 * Issue 16's start-up budget: the fixed cost of a command beside `node -e 0`, all rows interleaved
 * round by round so that the machine's load hits each alike. Cached runs are the second run of a flow
 * whose every step is cached (for shell steps a snapshot-fresh run; a TS-module flow takes the normal
 * path, loading its modules).
 */
export function startupSection(o: SectionOptions): string {
  const warning = checkDist();
  const reps = repsOf(o, 21, 5);
  const bin = join(REPO, "bin", "tributary.js");
  const words = example("words", false);
  const profile = example("profile", true);
  const rows: Row[] = [
    { name: "`node -e 0`", args: ["-e", "0"], cwd: REPO },
    { name: "`tributary --version`", args: [bin, "--version"], cwd: REPO },
    { name: "`tributary --help`", args: [bin, "--help"], cwd: REPO },
    { name: "`tributary run`, all cached (4 `sh` steps, examples/words)", args: [bin, "run"], cwd: words },
    {
      name: "`tributary run`, all cached (4 TS-module steps, examples/profile)",
      args: [bin, "run", "profile.flow"],
      cwd: profile,
    },
  ];
  // The first run fills the cache; the second writes what a fresh run checks. Neither is timed.
  for (const r of rows.slice(3)) for (let k = 0; k < 2; k++) time(r);
  const ms = rows.map(() => [] as number[]);
  for (let k = 0; k < reps; k++) {
    progress(`startup: round ${k + 1}/${reps}`);
    rows.forEach((r, i) => ms[i]!.push(time(r)));
  }
  const node = median(ms[0]!);
  const out = rows.map((r, i) => {
    const m = median(ms[i]!);
    const loaded = i === 0 ? undefined : loadedModules(process.execPath, r.args, r.cwd);
    const ratio = m / node;
    return [
      r.name,
      fmt.ms(m),
      `${ratio.toFixed(2)}×`,
      i === 0 ? "–" : ratio <= TARGET ? "yes" : "**NO**",
      loaded ? `${loaded.ours} + ${loaded.nodeModules}` : "–",
    ];
  });
  return (
    heading(
      "Start-up: the CLI's fixed cost beside `node -e 0`",
      `Median wall of ${reps} runs each, rows interleaved round by round, each spawned directly (no shell), without NODE_EXTRA_CA_CERTS. ` +
        `Target (issue 16): within ${TARGET}× of \`node -e 0\`. Modules: files loaded, ours + node_modules', ` +
        `counted in one more run by \`bench/startup/count-modules.mjs\`; \`node bench/startup-profile.mjs -- node bin/tributary.js …\` ` +
        `shows where a command's start-up goes.` +
        (warning ? ` ${warning}` : ""),
    ) +
    `\n${table(["command", "wall", "vs node -e 0", `≤ ${TARGET}×`, "modules"], out)}\n\n` +
    profileAroundPipeline(bin, Math.max(3, Math.round(reps / 3)))
  );
}
