import type { Command } from "commander";
import type { ScheduleMode } from "../../engine/scheduler.js";
import { cacheOptions, inputOption, jobsOption, scheduleOption, type CacheFlags } from "../options.js";

export interface PlanFlags extends CacheFlags {
  input?: string[];
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
    .addOption(inputOption())
    .addOption(jobsOption("slots to plan for"))
    .addOption(scheduleOption())
    .option("--json", "print the plan as JSON");
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.action(async (file: string | undefined, flags: PlanFlags) => {
    const { planCommand } = await import("../actions/plan.js");
    process.exitCode = await planCommand(file, flags);
  });
}
