/**
 * Reporters turn the engine's event stream into text. The engine never prints; a reporter never
 * decides. Attach one with `run(target, { onEvent: r.onEvent })` (or `onEvent: (e) => r.onEvent(e)`)
 * and `close()` it when done.
 */
import type { EngineEvent } from "../engine/events.js";
import { colorEnabled, makeColors } from "./ansi.js";
import {
  buildReporter,
  reporterTarget,
  type ChooseReporterOptions,
  type ReporterKind,
  type ReporterMaker,
} from "./choose.js";
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
export { LiveOutput, LIVE_OUTPUT_LIMITS, type LiveOutputLimits } from "./live-output.js";
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

/** The reporter of each kind, from the modules this one loads anyway. */
const MAKERS: Record<ReporterKind, ReporterMaker> = {
  json: (stream) => new JsonLinesReporter(stream),
  quiet: createQuietReporter,
  tty: (stream, o) => new TtyReporter(stream, o),
  plain: (stream, o) => new PlainReporter(stream, o),
};

/** The reporter for these options (see reporterKind). `loadReporter` does the same, loading only it. */
export function chooseReporter(o: ChooseReporterOptions = {}): Reporter & { kind: ReporterKind } {
  const target = reporterTarget(o);
  return buildReporter(o, target, MAKERS[target.kind], { colorEnabled, makeColors });
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
