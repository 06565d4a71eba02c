import { CliError } from "./exit-codes.js";

export async function main(argv: string[]): Promise<number> {
  try {
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
