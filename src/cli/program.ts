import { Command, CommanderError } from "./commander.js";
import { EXIT } from "./exit-codes.js";
import { tributaryVersion } from "../project/version.js";
import { registerRun } from "./commands/run.js";
import { registerCheck } from "./commands/check.js";
import { registerPlan } from "./commands/plan.js";
import { registerGraph } from "./commands/graph.js";
import { registerExplain } from "./commands/explain.js";
import { registerLogs } from "./commands/logs.js";
import { registerCache } from "./commands/cache.js";
import { registerClean } from "./commands/clean.js";
import { registerWorker } from "./commands/worker.js";
import { registerExec } from "./commands/exec.js";
import { registerServe } from "./commands/serve.js";
import { registerReport } from "./commands/report.js";

export function buildProgram(): Command {
  const program = new Command("tributary")
    .description("Run dataflow pipelines: parallel by the graph, cached by content, failures isolated.")
    .version(tributaryVersion(), "-V, --version")
    .showSuggestionAfterError(true)
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  registerRun(program);
  registerCheck(program);
  registerPlan(program);
  registerGraph(program);
  registerExplain(program);
  registerLogs(program);
  registerReport(program);
  registerClean(program);
  registerCache(program);
  registerWorker(program);
  registerExec(program);
  registerServe(program);
  program.addHelpText(
    "after",
    `\nExit codes: ${EXIT.ok} ok, ${EXIT.stepFailed} a step failed, ${EXIT.invalid} the flow or the command line is invalid, ${EXIT.interrupted} interrupted.`,
  );
  return program;
}

/** Parses and runs any command line; commander's own errors (and --help, --version) become exit codes. */
export async function runProgram(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end up here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    throw err;
  }
}
