export async function main(argv: string[]): Promise<number> {
  keepGoingWhenReadersLeave();
  try {
    // `--version` alone is answered before commander and the commands load: most of its cost otherwise.
    // Commander prints the same line for it (program.ts gives it the same version).
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
      const { tributaryVersion } = await import("../project/version.js");
      process.stdout.write(`${tributaryVersion()}\n`);
      return 0;
    }
    if (argv[0] === "run") {
      const { quickRunArgs } = await import("./quick-run.js");
      const quick = quickRunArgs(argv.slice(1));
      if (quick) {
        const { runCommand } = await import("./run-command.js");
        return await runCommand(quick.file, [], quick.flags);
      }
    }
    const { runProgram } = await import("./program.js");
    return await runProgram(argv);
  } catch (err) {
    // Loaded here, not at the top: `--version` needs nothing but the version.
    const { CliError } = await import("./exit-codes.js");
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`tributary: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 70;
  }
}

/**
 * A reader that stops early (`tributary run --json | head -1`, a pager closed) must not crash the
 * command with an EPIPE stack trace, nor leave a build half done: what is written after the reader
 * left is dropped, the command goes on and exits with its usual code.
 */
function keepGoingWhenReadersLeave(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") return;
      throw err;
    });
  }
}
