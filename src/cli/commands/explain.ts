import type { Command } from "commander";
import type { CacheFlags } from "../options.js";

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("say why a step ran or was restored from the cache in the last run")
    .argument("<step>", "the step id")
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .option("--cache-dir <dir>", "where the cache lives (default .tributary/cache, or $TRIBUTARY_CACHE_DIR)")
    .option("--json", "print the explanation as JSON")
    .action(async (step: string, file: string | undefined, flags: CacheFlags & { json?: boolean }) => {
      const { explainCommand } = await import("../actions/cache.js");
      process.exitCode = await explainCommand(step, file, flags);
    });
}
