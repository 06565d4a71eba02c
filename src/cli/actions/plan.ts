import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Step } from "../../graph/ir.js";
import { formatDuration } from "../../graph/units.js";
import type { StepCache } from "../../engine/cache-port.js";
import { DurationHistory } from "../../engine/history.js";
import { planGraph } from "../../engine/plan.js";
import type { ScheduleMode } from "../../engine/scheduler.js";
import type { PlanFlags } from "../commands/plan.js";
import { EXIT } from "../exit-codes.js";
import { loadFlow, type LoadedFlow } from "../load-flow.js";
import { parseInputs, parseJobs } from "../option-values.js";
import { openProjectCache } from "../project-cache.js";
import { stderrColor } from "./color.js";

export async function planCommand(file: string | undefined, flags: PlanFlags): Promise<number> {
  const concurrency = parseJobs(flags.jobs);
  const flow = await loadFlow(file, parseInputs(flags.input), stderrColor());
  process.chdir(flow.root);
  const history = await DurationHistory.load(join(flow.root, ".tributary", "history.json"));
  const cache = await openProjectCache(flow.root, flags, (m) => process.stderr.write(`warning: ${m}\n`));
  try {
    await printPlan(flow, {
      concurrency,
      cache: cache?.stepCache,
      estimate: history.estimate,
      mode: flags.schedule,
      json: flags.json,
    });
  } finally {
    await cache?.close();
  }
  return EXIT.ok;
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
