import { keepGoingWhenReadersLeave } from "./streams.js";

export async function main(argv: string[]): Promise<number> {
  keepGoingWhenReadersLeave();
  try {
    // Its parser only for a `run`: other commands (`--help` too) do not load it.
    const quick = argv[0] === "run" ? (await import("./quick-run.js")).quickRun(argv) : undefined;
    if (quick) {
      const { runCommand } = await import("./run-command.js");
      return await runCommand(quick.file, [], quick.flags);
    }
    const { runProgram } = await import("./program.js");
    return await runProgram(argv);
  } catch (err) {
    // Loaded here, not at the top: a command that goes well never needs it.
    const { CliError } = await import("./exit-codes.js");
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`tributary: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 70;
  }
}
