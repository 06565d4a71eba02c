import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { cacheOptions } from "../options.js";
import { cacheSettingsOf, type CacheFlags } from "../flag-settings.js";

interface ExecFlags extends CacheFlags {
  in?: string[];
  out?: string[];
  verbose?: boolean;
}

export function registerExec(program: Command): void {
  const cmd = program
    .command("exec")
    .description(
      "run one command under the cache, for make, ninja, Snakemake or CI: restore its outputs when its inputs are unchanged, else run it and store them (the same keys and store as a flow step)",
    )
    .usage("[--in FILE]… [--out FILE]… -- COMMAND [ARG…]")
    .argument("<command...>", "the command and its arguments, after --")
    .option("--in <file...>", "a file the command reads (repeatable): its content is part of the key")
    .option("--out <file...>", "a file the command writes (repeatable), named on its command line")
    .option("-v, --verbose", "say on stderr whether the outputs were restored or the command ran");
  for (const o of cacheOptions()) cmd.addOption(o);
  cmd.addHelpText(
    "after",
    `\nExample: tributary exec --in src/a.c --in src/a.h --out build/a.o -- cc -c src/a.c -o build/a.o\n` +
      `Paths are relative to the current directory, which is the project root. The exit code and the\n` +
      `output are the command's own; on a hit nothing runs (a command with no --out prints its stored stdout).`,
  );
  cmd.action(async (argv: string[], flags: ExecFlags) => {
    const { execCached } = await import("../../project/exec.js");
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      const r = await execCached({
        root: process.cwd(),
        argv,
        inputs: flags.in,
        outputs: flags.out,
        cache: cacheSettingsOf(flags),
        signal: abort.signal,
        onOutput: (stream, chunk) => (stream === "stdout" ? process.stdout : process.stderr).write(chunk),
        onWarning: (message) => process.stderr.write(`tributary exec: warning: ${message}\n`),
      });
      if (flags.verbose) {
        process.stderr.write(
          `tributary exec: ${r.cached ? "restored from the cache" : r.step.status === "ok" ? "ran, stored in the cache" : `failed (${r.step.error?.message ?? "error"}), nothing stored`}\n`,
        );
      } else if (r.step.status !== "ok" && r.step.error?.exitCode === undefined) {
        // The command's own failure speaks for itself; one it could not even get to must be said.
        process.stderr.write(`tributary exec: ${r.step.error?.message ?? "failed"}\n`);
      }
      process.exitCode = abort.signal.aborted ? EXIT.interrupted : r.exitCode;
    } finally {
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
    }
  });
}
