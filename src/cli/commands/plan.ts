import type { Command } from "commander";
import type { ScheduleMode } from "../../engine/scheduler.js";
import type { Project } from "../../project/project.js";
import { EXIT } from "../exit-codes.js";
import { cacheOptions, forceOption, inputOption, jobsOption, scheduleOption } from "../options.js";
import { cacheSettingsOf, type CacheFlags } from "../flag-settings.js";

interface PlanFlags extends CacheFlags {
  input?: string[];
  force?: string[];
  jobs?: string;
  schedule: ScheduleMode;
  json?: boolean;
}

export function registerPlan(program: Command): void {
  const cmd = program
    .command("plan")
    .description(
      "show what a run would do: which steps are cached, which run, in which order, on how many slots",
    )
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .argument("[targets...]", "plan only these steps and what they need (default: the flow's outputs)")
    .addOption(inputOption())
    .addOption(jobsOption("slots to plan for"))
    .addOption(scheduleOption())
    .addOption(forceOption())
    .option("--json", "print the plan as JSON");
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.action(async (file: string | undefined, targets: string[], flags: PlanFlags) => {
    const [{ openProject }, { parseInputs, parseJobs }] = await Promise.all([
      import("../../project/project.js"),
      import("../option-values.js"),
    ]);
    const project = openProject({
      flow: file,
      inputs: parseInputs(flags.input),
      cache: cacheSettingsOf(flags),
    });
    await printPlan(file, project, {
      concurrency: parseJobs(flags.jobs),
      mode: flags.schedule,
      json: flags.json,
      outputs: targets.length > 0 ? targets : undefined,
      force: flags.force,
    });
    process.exitCode = EXIT.ok;
  });
}

/** `plan`, and `run --dry-run`. */
export async function printPlan(
  fileArg: string | undefined,
  project: Project,
  o: {
    concurrency?: number;
    mode?: ScheduleMode;
    json?: boolean;
    outputs?: string[];
    force?: string[];
  },
): Promise<void> {
  const { withFlowErrors } = await import("../flow-errors.js");
  const plan = await withFlowErrors(fileArg, () => project.plan(o));
  if (o.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return;
  }
  const { formatPlan } = await import("../../reporters/plan.js");
  process.stdout.write(formatPlan(plan));
}
