import type { Command } from "commander";

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("say why a step ran or was restored from the cache in the last run")
    .argument("<step>", "the step id")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .action(async () => {
      process.exitCode = 0;
    });
}
