import type { Colors, colorEnabled, makeColors } from "./ansi.js";
import type { OutputStream, Reporter } from "./types.js";

/**
 * Which reporter a command line asks for, kept apart from the reporters themselves: choosing one, and
 * loading only that one, must not load them all.
 */

export type ReporterKind = "json" | "quiet" | "tty" | "plain";

export interface ChooseReporterOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** Whether the output is a terminal; default the stream's `isTTY`. */
  isTTY?: boolean;
  /** For CI, NO_COLOR, FORCE_COLOR and TERM; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where to write; default process.stdout for JSON lines, process.stderr for everything else. */
  stream?: OutputStream;
  columns?: number;
  rows?: number;
}

/** A truthy environment flag: set, and not empty, `0` or `false`. */
function flag(v: string | undefined): boolean {
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/**
 * `--json` → JSON lines; `--quiet` → failures and summary only; a terminal (not under `CI`, not
 * `TERM=dumb`) → the live view; anything else (pipes, logs, CI) → plain lines.
 */
export function reporterKind(o: Omit<ChooseReporterOptions, "stream"> & { isTTY: boolean }): ReporterKind {
  const env = o.env ?? process.env;
  if (o.json) return "json";
  if (o.quiet) return "quiet";
  if (o.isTTY && !flag(env.CI) && env.TERM !== "dumb") return "tty";
  return "plain";
}

/** The chosen kind, and what its colours depend on. */
export interface ReporterTarget {
  kind: ReporterKind;
  stream: OutputStream;
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
}

export function reporterTarget(o: ChooseReporterOptions): ReporterTarget {
  const env = o.env ?? process.env;
  const stream = o.stream ?? (o.json ? process.stdout : process.stderr);
  const isTTY = o.isTTY ?? stream.isTTY === true;
  return { kind: reporterKind({ ...o, env, isTTY }), stream, env, isTTY };
}

/** Makes a reporter of one kind on a stream (JSON lines ignore the options). */
export type ReporterMaker = (
  stream: OutputStream,
  o: { colors: Colors; verbose?: boolean; columns?: number; rows?: number },
) => Reporter;

/** Each kind's maker, from its own module: only the chosen one is loaded. */
const LOADERS: Record<ReporterKind, () => Promise<ReporterMaker>> = {
  json: async () => {
    const { JsonLinesReporter } = await import("./json-lines.js");
    return (stream) => new JsonLinesReporter(stream);
  },
  quiet: async () => (await import("./summary.js")).createQuietReporter,
  tty: async () => {
    const { TtyReporter } = await import("./tty.js");
    return (stream, o) => new TtyReporter(stream, o);
  },
  plain: async () => {
    const { PlainReporter } = await import("./plain.js");
    return (stream, o) => new PlainReporter(stream, o);
  },
};

/** The reporter for these options, made by `make` (chooseReporter and loadReporter share this). */
export function buildReporter(
  o: ChooseReporterOptions,
  target: ReporterTarget,
  make: ReporterMaker,
  ansi: { colorEnabled: typeof colorEnabled; makeColors: typeof makeColors },
): Reporter & { kind: ReporterKind } {
  const { kind, stream, env, isTTY } = target;
  const colors = ansi.makeColors(kind !== "json" && ansi.colorEnabled({ env, isTTY }));
  const r = make(stream, { colors, verbose: o.verbose, columns: o.columns, rows: o.rows });
  return { kind, onEvent: (e) => r.onEvent(e), close: () => r.close() };
}

/**
 * `chooseReporter`, loading only the chosen reporter's module: a command that may have nothing to
 * report at length (the null run) should not load the live view to print one line, or nothing.
 */
export async function loadReporter(
  o: ChooseReporterOptions = {},
): Promise<Reporter & { kind: ReporterKind }> {
  const target = reporterTarget(o);
  // The reporter's module first: it loads ansi.js, which then costs nothing more.
  const make = await LOADERS[target.kind]();
  return buildReporter(o, target, make, await import("./ansi.js"));
}
