import type { RunFlags } from "./run-command.js";

/**
 * `tributary run [FLOW] [-j N] [--no-cache] [-q]`, the command line a build script or a make recipe
 * repeats all day, parsed without commander: loading commander and building the program costs more
 * than answering a run whose every step is cached. Only that shape is taken, and it means exactly what
 * commander makes of it (test/e2e/quick-run.test.ts runs both); any other option, a target, or a -j
 * value that is not a number goes to commander, which owns the command line's rules, help and errors.
 */
export function quickRun(argv: readonly string[]): { file?: string; flags: RunFlags } | undefined {
  return argv[0] === "run" ? quickRunArgs(argv.slice(1)) : undefined;
}

/** The quick run that the arguments after `run` are, or undefined. */
function quickRunArgs(args: readonly string[]): { file?: string; flags: RunFlags } | undefined {
  let file: string | undefined;
  let jobs: string | undefined;
  let cache: false | undefined;
  let quiet: true | undefined;
  for (let k = 0; k < args.length; k++) {
    const arg = args[k]!;
    // Flags without a value: given twice, they are still just set.
    if (arg === "--no-cache") {
      cache = false;
      continue;
    }
    if (arg === "-q" || arg === "--quiet") {
      quiet = true;
      continue;
    }
    const attached = /^(?:-j|--jobs=|--parallel=)(\d+)$/.exec(arg);
    let value: string | undefined;
    if (attached) value = attached[1];
    else if (arg === "-j" || arg === "--jobs" || arg === "--parallel") {
      value = args[++k];
      if (value === undefined || !/^\d+$/.test(value)) return undefined;
    } else if (!arg.startsWith("-") && file === undefined) {
      file = arg;
      continue;
    } else {
      return undefined;
    }
    // Given twice: commander's rules (which one wins) decide.
    if (jobs !== undefined) return undefined;
    jobs = value;
  }
  // No schedule: the engine's default, which is what commander's default for --schedule names.
  const flags: RunFlags = { jobs };
  if (cache === false) flags.cache = cache;
  if (quiet) flags.quiet = quiet;
  return { file, flags };
}
