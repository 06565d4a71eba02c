/**
 * Reporters turn the engine's event stream into text. The engine never prints; a reporter never
 * decides. Attach one with `run(target, { onEvent: r.onEvent })` (or `onEvent: (e) => r.onEvent(e)`)
 * and `close()` it when done.
 */
import type { EngineEvent } from "../engine/events.js";
import { colorEnabled, makeColors } from "./ansi.js";
import { reporterTarget, type ChooseReporterOptions, type ReporterKind } from "./choose.js";
import { JsonLinesReporter } from "./json-lines.js";
import { PlainReporter } from "./plain.js";
import { createQuietReporter } from "./summary.js";
import { TtyReporter } from "./tty.js";
import type { Reporter } from "./types.js";

export type { Reporter, OutputStream } from "./types.js";
export {
  loadReporter,
  reporterKind,
  reporterTarget,
  type ChooseReporterOptions,
  type ReporterKind,
  type ReporterTarget,
} from "./choose.js";
export {
  colorEnabled,
  makeColors,
  stripAnsi,
  truncate,
  visibleWidth,
  sanitizeLine,
  type Colors,
} from "./ansi.js";
export {
  errorHeadline,
  formatChain,
  formatCommand,
  formatDuration,
  formatElapsed,
  shellQuote,
  tailLines,
} from "./format.js";
export { Progress, durationOf, type Counts, type RunningStep } from "./progress.js";
export {
  formatFailure,
  formatSummary,
  createQuietReporter,
  type SummaryOptions,
  type QuietOptions,
} from "./summary.js";
export { PlainReporter, createPlainReporter, type PlainOptions } from "./plain.js";
export {
  JsonLinesReporter,
  createJsonLinesReporter,
  eventToJson,
  formatJsonLine,
  toJsonSafe,
  type JsonLinesOptions,
} from "./json-lines.js";
export { TtyReporter, createTtyReporter, type TtyOptions } from "./tty.js";
export {
  ChromeTraceRecorder,
  ChromeTraceReporter,
  createChromeTraceReporter,
  type ChromeTrace,
  type TraceEvent,
} from "./chrome-trace.js";

/** The reporter for these options (see reporterKind). `loadReporter` does the same, loading only it. */
export function chooseReporter(o: ChooseReporterOptions = {}): Reporter & { kind: ReporterKind } {
  const { kind, stream, env, isTTY } = reporterTarget(o);
  const colors = makeColors(kind !== "json" && colorEnabled({ env, isTTY }));
  let r: Reporter;
  switch (kind) {
    case "json":
      r = new JsonLinesReporter(stream);
      break;
    case "quiet":
      r = createQuietReporter(stream, { colors, verbose: o.verbose });
      break;
    case "tty":
      r = new TtyReporter(stream, { colors, verbose: o.verbose, columns: o.columns, rows: o.rows });
      break;
    case "plain":
      r = new PlainReporter(stream, { colors, verbose: o.verbose });
      break;
  }
  return { kind, onEvent: (e) => r.onEvent(e), close: () => r.close() };
}

/** Several reporters as one (e.g. the live view plus a trace file). */
export function combineReporters(...reporters: Reporter[]): Reporter {
  return {
    onEvent(e: EngineEvent): void {
      for (const r of reporters) {
        try {
          r.onEvent(e);
        } catch {
          /* one broken reporter must not silence the others */
        }
      }
    },
    close(): void {
      for (const r of reporters) {
        try {
          r.close();
        } catch {
          /* ditto */
        }
      }
    },
  };
}
