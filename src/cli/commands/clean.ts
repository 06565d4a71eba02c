import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { cacheDirOption, inputOption } from "../options.js";

export function registerClean(program: Command): void {
  program
    .command("clean")
    .description(
      "remove the files the flow's steps write (their output(...) paths, and what map items wrote in the last run); never an input, never outside the project",
    )
    .argument("[file]", "the flow file (default: pipeline.flow)")
    .option("-n, --dry-run", "list what would be removed, remove nothing")
    .addOption(inputOption())
    .addOption(cacheDirOption())
    .action(
      async (file: string | undefined, flags: { dryRun?: boolean; input?: string[]; cacheDir?: string }) => {
        const [{ openProject }, { withFlowErrors }, { parseInputs }] = await Promise.all([
          import("../../project/project.js"),
          import("../flow-errors.js"),
          import("../option-values.js"),
        ]);
        const project = openProject({
          flow: file,
          inputs: parseInputs(flags.input),
          cache: { dir: flags.cacheDir },
        });
        const r = await withFlowErrors(file, () => project.clean({ dryRun: flags.dryRun }));
        const lines = r.removed.map((p) => `${r.dryRun ? "would remove" : "removed"} ${p}`);
        for (const k of r.kept) lines.push(`kept ${k.path}: ${k.why}`);
        if (r.removed.length === 0) lines.push("nothing to remove");
        process.stdout.write(`${lines.join("\n")}\n`);
        for (const x of r.refused) process.stderr.write(`refused ${x.path}: ${x.why}\n`);
        process.exitCode = r.refused.length > 0 ? EXIT.stepFailed : EXIT.ok;
      },
    );
}
