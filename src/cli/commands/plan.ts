import { availableParallelism } from "node:os";
import { Option, type Command } from "commander";
import type { Step } from "../../graph/ir.js";
import { formatDuration } from "../../graph/units.js";
import type { StepCache } from "../../engine/cache-port.js";
import { planGraph } from "../../engine/plan.js";
import type { ScheduleMode } from "../../engine/scheduler.js";
import { DurationHistory } from "../../engine/history.js";
import { EXIT } from "../exit-codes.js";
import { loadFlow, parseInputs, type LoadedFlow } from "../load-flow.js";
import { inputOption } from "../main.js";
import { cacheOptions, openProjectCache, type CacheFlags } from "../project-cache.js";
import { parseJobs } from "./run.js";
import { join } from "node:path";

export function registerPlan(program: Command): void {
  const cmd = program
    .command("plan")
    .description(
      "show what a run would do: which steps are cached, which run, in which order, on how many slots",
    )
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .addOption(inputOption())
    .option("-j, --jobs <n>", "slots to plan for (default: cores + 2)")
    .addOption(
      new Option("--schedule <mode>", "ordering").choices(["eager", "fifo", "layers"]).default("eager"),
    )
    .option("--json", "print the plan as JSON");
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.action(
    async (
      file: string,
      flags: CacheFlags & { input?: string[]; jobs?: string; schedule: ScheduleMode; json?: boolean },
    ) => {
      const flow = await loadFlow(file, parseInputs(flags.input), process.stderr.isTTY === true);
      process.chdir(flow.root);
      const history = await DurationHistory.load(join(flow.root, ".tributary", "history.json"));
      const cache = await openProjectCache(flow.root, flags, (m) => process.stderr.write(`warning: ${m}\n`));
      try {
        await printPlan(flow, {
          concurrency: parseJobs(flags.jobs),
          cache: cache?.stepCache,
          estimate: history.estimate,
          mode: flags.schedule,
          json: flags.json,
        });
      } finally {
        await cache?.close();
      }
      process.exitCode = EXIT.ok;
    },
  );
}

export async function printPlan(
  flow: LoadedFlow,
  o: {
    concurrency?: number;
    cache?: StepCache;
    estimate?: (s: Step) => number | undefined;
    mode?: ScheduleMode;
    json?: boolean;
  },
): Promise<void> {
  const plan = await planGraph(flow.graph, {
    concurrency: o.concurrency ?? availableParallelism() + 2,
    mode: o.mode,
    root: flow.root,
    cache: o.cache,
    estimate: o.estimate,
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return;
  }
  const idWidth = Math.min(40, Math.max(4, ...plan.steps.map((s) => s.id.length)));
  const lines = [`${"start".padStart(8)}  ${"step".padEnd(idWidth)}  ${"status".padEnd(6)}  est      why`];
  for (const s of plan.steps) {
    const est = s.estimateMs === undefined ? "?" : formatDuration(s.estimateMs);
    const start = s.status === "cached" ? "-" : formatDuration(s.startMs);
    lines.push(
      `${start.padStart(8)}  ${s.id.padEnd(idWidth)}  ${s.status.padEnd(6)}  ${est.padEnd(7)}  ${s.reason}`,
    );
  }
  const runs = plan.steps.filter((s) => s.status === "run").length;
  const cached = plan.steps.length - runs;
  const wall =
    plan.wallMs === undefined
      ? `wall time unknown (${plan.unknownEstimates} step${plan.unknownEstimates === 1 ? "" : "s"} never timed: run once, or declare \`with estimate:\`)`
      : `estimated wall ${formatDuration(plan.wallMs)}`;
  lines.push(
    `${plan.steps.length} steps: ${runs} to run, ${cached} cached; ${plan.concurrency} slots, ${plan.mode} order; ${wall}`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}
