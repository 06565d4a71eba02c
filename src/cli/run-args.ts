import type { RunFlags } from "./commands/run.js";

/**
 * The common `tributary run` command lines, parsed without commander. Loading commander and building
 * the whole program costs more than a null run's own work, so `main` tries this first and hands
 * everything it does not recognise (help, other commands, rarer options, anything odd) to commander.
 *
 * For what it accepts it must give exactly what commander gives: the same file and the same flags
 * (test/e2e/run-args.test.ts compares the two). It follows commander's rules for the options it knows:
 * a value is the next argument (here: unless it looks like an option), `-j2` and `--jobs=2` carry theirs
 * inline, and `-i`/`--input` keeps taking the arguments that follow until the next option.
 */

/** Flags without a value, by their spelling. */
const SWITCHES: Readonly<Record<string, "quiet" | "json" | "verbose" | "failFast">> = {
  "-q": "quiet",
  "--quiet": "quiet",
  "--json": "json",
  "-v": "verbose",
  "--verbose": "verbose",
  "--fail-fast": "failFast",
};

/** Options with a value, by their spelling. */
const VALUED: Readonly<Record<string, "jobs" | "parallel" | "input">> = {
  "-j": "jobs",
  "--jobs": "jobs",
  "--parallel": "parallel",
  "-i": "input",
  "--input": "input",
};

/** What commander's `run` action receives: its options' defaults plus what the command line set. */
export interface RawRunFlags extends RunFlags {
  parallel?: string;
}

/** The flags `runCommand` gets from the `run` action: `--parallel` is another name for `--jobs`. */
export function runFlagsOf(raw: RawRunFlags): RunFlags {
  return { ...raw, jobs: raw.jobs ?? raw.parallel };
}

export interface PlainRun {
  file: string | undefined;
  flags: RunFlags;
}

/** `argv` (after the program name) as a `run` command, or undefined: let commander parse it. */
export function parsePlainRun(argv: readonly string[]): PlainRun | undefined {
  if (argv[0] !== "run") return undefined;
  // The defaults commander gives `run`'s options (--schedule, and --no-cache's `cache`).
  const raw: RawRunFlags = { schedule: "eager", cache: true };
  const operands: string[] = [];
  let takingInputs = false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const isOption = looksLikeOption(arg);
    if (takingInputs && !isOption) {
      raw.input!.push(arg);
      continue;
    }
    takingInputs = false;
    if (!isOption) {
      operands.push(arg);
      continue;
    }
    const inline = splitInline(arg);
    const name = inline?.name ?? arg;
    const key = SWITCHES[name];
    if (key && !inline) {
      raw[key] = true;
      continue;
    }
    const valued = VALUED[name];
    if (!valued) return undefined;
    const value = inline ? inline.value : argv[++i];
    // Commander would take `-j -V` as a value for -j, but its program-level pass would also print the
    // version: leave such lines to it.
    if (value === undefined || (!inline && looksLikeOption(value))) return undefined;
    if (valued === "input") {
      (raw.input ??= []).push(value);
      // Only a value given as the next argument makes commander keep collecting.
      takingInputs = !inline;
    } else {
      raw[valued] = value;
    }
  }
  if (operands.length > 1) return undefined;
  return { file: operands[0], flags: runFlagsOf(raw) };
}

/** `-j2` → -j and 2, `--jobs=2` → --jobs and 2; undefined for anything else. */
function splitInline(arg: string): { name: string; value: string } | undefined {
  if (arg[1] !== "-") {
    return arg.length > 2 ? { name: arg.slice(0, 2), value: arg.slice(2) } : undefined;
  }
  const eq = arg.indexOf("=");
  return eq > 2 ? { name: arg.slice(0, eq), value: arg.slice(eq + 1) } : undefined;
}

/** Commander's test: a dash and at least one more character (a lone `-` is an operand). */
function looksLikeOption(arg: string): boolean {
  return arg.length > 1 && arg[0] === "-";
}
