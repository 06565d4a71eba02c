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

/**
 * `chooseReporter`, loading only the chosen reporter's module: a command that may have nothing to
 * report at length (the null run) should not load the live view to print one line, or nothing.
 */
export async function loadReporter(
  o: ChooseReporterOptions = {},
): Promise<Reporter & { kind: ReporterKind }> {
  const { kind, stream, env, isTTY } = reporterTarget(o);
  const { verbose } = o;
  // The reporter's module first: it loads ansi.js, which then costs nothing more.
  const colors = async () => {
    const { colorEnabled, makeColors } = await import("./ansi.js");
    return makeColors(colorEnabled({ env, isTTY }));
  };
  let r: Reporter;
  switch (kind) {
    case "json":
      r = new (await import("./json-lines.js")).JsonLinesReporter(stream);
      break;
    case "quiet": {
      const { createQuietReporter } = await import("./summary.js");
      r = createQuietReporter(stream, { colors: await colors(), verbose });
      break;
    }
    case "tty": {
      const { TtyReporter } = await import("./tty.js");
      r = new TtyReporter(stream, { colors: await colors(), verbose, columns: o.columns, rows: o.rows });
      break;
    }
    case "plain": {
      const { PlainReporter } = await import("./plain.js");
      r = new PlainReporter(stream, { colors: await colors(), verbose });
      break;
    }
  }
  return { kind, onEvent: (e) => r.onEvent(e), close: () => r.close() };
}
