import { CliError } from "./exit-codes.js";
import { parsePlainRun } from "./run-args.js";

export async function main(argv: string[]): Promise<number> {
  try {
    // A plain `run` (the null run above all) skips loading commander and building every command.
    const plain = parsePlainRun(argv);
    if (plain) {
      const { runCommand } = await import("./actions/run.js");
      return await runCommand(plain.file, plain.flags);
    }
    const { runProgram } = await import("./program.js");
    return await runProgram(argv);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`tributary: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 70;
  }
}
