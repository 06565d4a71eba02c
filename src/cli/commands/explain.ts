import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { cacheDirOption } from "../options.js";

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("say why a step ran or was restored from the cache in the last run")
    .argument("<step>", "the step id")
    .argument("[file]", "the flow file (default: the nearest project from here up)")
    .addOption(cacheDirOption())
    .option("--json", "print the explanation as JSON")
    .action(async (step: string, file: string | undefined, flags: { cacheDir?: string; json?: boolean }) => {
      const { projectAt } = await import("../project-at.js");
      const project = await projectAt(file, { dir: flags.cacheDir });
      const e = await project.explain(step);
      const { formatExplanation } = await import("../../project/index.js");
      process.stdout.write(flags.json ? `${JSON.stringify(e, null, 2)}\n` : `${formatExplanation(e)}\n`);
      process.exitCode = e.decision === "unknown" ? EXIT.invalid : EXIT.ok;
    });
}
