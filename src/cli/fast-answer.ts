import { dirname, join, relative } from "node:path";
import type { EngineEvent } from "../engine/events.js";
import { remoteCacheSpec } from "../project/cache.js";
import { readFlowFile, resolveFlowFile } from "../project/flow.js";
import { answerNoOp, snapshotKeyOf } from "../project/no-op-run.js";
import { tributaryVersion } from "../project/version.js";
import { loadReporter } from "../reporters/choose.js";
import { runExitCode } from "./exit-codes.js";
import { checkFlowArgument } from "./flow-argument.js";
import { parseJobs } from "./option-values.js";
import { printOutputs } from "./output.js";
import { quickRun } from "./quick-run.js";
import { directOutput } from "./streams.js";

/** The bin loads the run bundle with this (its code cache): from this bundle, already loaded. */
export { requireCompiled } from "../project/compiled-code.js";

/**
 * The commands answered before the CLI loads: `--version`, and `run [FLOW] [-j N] [-q]` when nothing the
 * last complete run depended on changed (a build script's or a make recipe's run, hundreds of times a
 * day).
 * The build bundles this module and the few it imports into one CommonJS file (dist/cli/fast-answer.cjs,
 * scripts/bundle-cli.mjs) that the bin loads first: Node loads one such file in a fraction of the time
 * it takes to load the ES modules one by one.
 *
 * It answers only when sure, from the same functions the full command uses, and otherwise returns
 * undefined having printed nothing: the full CLI then does everything again, errors included. Nothing
 * it makes reaches the full CLI, which has its own copies of these classes.
 */
export async function fastAnswer(argv: readonly string[], env = process.env): Promise<number | undefined> {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    // Commander would print the same line (program.ts gives it this version).
    directOutput(1).write(`${tributaryVersion()}\n`);
    return 0;
  }
  const quick = quickRun(argv);
  // Without the cache nothing is answered from a record; a remote cache is settled by the full path,
  // which loads its stores.
  if (!quick || quick.flags.cache === false || remoteCacheSpec({}, env) !== undefined) return undefined;
  let concurrency: number | undefined;
  let file: string;
  let source: Buffer;
  try {
    concurrency = parseJobs(quick.flags.jobs);
    checkFlowArgument(quick.file, []);
    file = resolveFlowFile(quick.file);
    source = readFlowFile(file);
  } catch {
    return undefined; // the full CLI says what is wrong
  }
  const root = dirname(file);
  const events: EngineEvent[] = [];
  const result = await answerNoOp({
    stateDir: join(root, ".tributary"),
    root,
    key: snapshotKeyOf(source),
    env,
    listeners: [(e) => events.push(e)],
    settleRemote: () => Promise.resolve({ problems: [] }),
    record: { flow: relative(root, file), concurrency: concurrency ?? 0 },
  });
  if (!result) return undefined;
  // Told only now that the run is answered: a reporter may draw on the terminal as it starts.
  const quiet = quick.flags.quiet === true;
  const reporter = await loadReporter({ quiet, stream: directOutput(2) });
  for (const e of events) reporter.onEvent(e);
  reporter.close();
  printOutputs(result, quiet, directOutput(1));
  return runExitCode(result);
}

/**
 * Whether the bundled run (dist/cli/run.cjs) takes a command line the fast answer did not answer: the
 * quick run's command lines (quick-run.ts); any other goes to the full CLI's ES modules.
 */
export function takesRunBundle(argv: readonly string[]): boolean {
  return quickRun(argv) !== undefined;
}
