import { Command, CommanderError } from "./commander.js";
import { EXIT } from "./exit-codes.js";
import { tributaryVersion } from "../project/version.js";

type Register = (program: Command) => void;

/**
 * Every command, in the order `--help` lists them, each module loaded only when it is needed: a command
 * line that names one (`tributary run …`) loads that one alone, which is most of the CLI's fixed cost.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  run: async () => (await import("./commands/run.js")).registerRun,
  check: async () => (await import("./commands/check.js")).registerCheck,
  plan: async () => (await import("./commands/plan.js")).registerPlan,
  graph: async () => (await import("./commands/graph.js")).registerGraph,
  explain: async () => (await import("./commands/explain.js")).registerExplain,
  logs: async () => (await import("./commands/logs.js")).registerLogs,
  report: async () => (await import("./commands/report.js")).registerReport,
  clean: async () => (await import("./commands/clean.js")).registerClean,
  cache: async () => (await import("./commands/cache.js")).registerCache,
  worker: async () => (await import("./commands/worker.js")).registerWorker,
  exec: async () => (await import("./commands/exec.js")).registerExec,
  serve: async () => (await import("./commands/serve.js")).registerServe,
};

/**
 * The program for a command line: with every command, or only the one `argv` names first. A
 * subcommand's parsing, help and errors depend on it alone; anything else (`--help`, `help run`, a
 * mistyped command that gets suggestions) sees them all.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("tributary")
    .description("Run dataflow pipelines: parallel by the graph, cached by content, failures isolated.")
    .version(tributaryVersion(), "-V, --version")
    .showSuggestionAfterError(true)
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  const first = argv[0];
  const names = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  for (const register of await Promise.all(names.map((n) => COMMANDS[n]!()))) register(program);
  program.addHelpText(
    "after",
    `\nExit codes: ${EXIT.ok} ok, ${EXIT.stepFailed} a step failed, ${EXIT.invalid} the flow or the command line is invalid, ${EXIT.interrupted} interrupted.`,
  );
  return program;
}

/** Parses and runs any command line; commander's own errors (and --help, --version) become exit codes. */
export async function runProgram(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end up here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    throw err;
  }
}
