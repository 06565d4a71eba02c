import type { EngineEvent } from "../engine/events.js";
import type { RunResult, StepResult } from "../engine/result.js";
import { makeColors, sanitizeLine, truncate, type Colors } from "./ansi.js";
import {
  errorHeadline,
  formatChain,
  formatCommand,
  formatDuration,
  formatList,
  plural,
  tailLines,
} from "./format.js";
import { durationOf } from "./progress.js";
import type { OutputStream, Reporter } from "./types.js";

export interface SummaryOptions {
  colors?: Colors;
  /** Cut every line to this many columns (a terminal's width); default: no limit. */
  columns?: number;
  /**
   * How failed steps are described: `full` (command, reason, output tail; for logs and --quiet),
   * `brief` (one line each, when the details were already printed as they happened) or `none`.
   */
  failures?: "full" | "brief" | "none";
  /** Lines of output shown per failed step. Default 20. */
  tailLines?: number;
  /** Failed steps described in detail before the rest are only named. Default 20. */
  maxFailures?: number;
  /** Also show the stack of functions that threw. */
  verbose?: boolean;
  /**
   * Output captured by the reporter itself, for failed steps whose result carries no `outputTail`
   * (in-process steps do not capture output).
   */
  outputOf?: (id: string) => string | undefined;
}

/**
 * The block of text for one failed step:
 *
 *     ✗ compile: exit code 1 (after 1.20s, 2 attempts)
 *       $ cc -c 'my file.c' -o my.o
 *       │ my file.c:3:1: error: expected ';'
 */
export function formatFailure(r: StepResult, opts: SummaryOptions = {}): string[] {
  const c = opts.colors ?? makeColors(false);
  const out: string[] = [];
  const facts: string[] = [];
  const d = durationOf(r);
  if (d !== undefined) facts.push(`after ${formatDuration(d)}`);
  if (r.attempts > 1) facts.push(`${r.attempts} attempts`);
  const status = r.status === "cancelled" ? c.yellow("cancelled") : c.red(errorHeadline(r.error));
  out.push(`${c.red("✗")} ${c.bold(r.id)}: ${status}${facts.length ? c.dim(` (${facts.join(", ")})`) : ""}`);
  if (r.command && r.command.length > 0) out.push(`  ${c.dim("$")} ${formatCommand(r.command)}`);
  if (opts.verbose && r.error?.stack) {
    const frames = r.error.stack
      .split("\n")
      .slice(1)
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(0, 10);
    for (const f of frames) out.push(`    ${c.dim(sanitizeLine(f, false))}`);
  }
  const output = r.outputTail ?? opts.outputOf?.(r.id);
  if (output) {
    const { lines, omitted } = tailLines(output, opts.tailLines ?? 20);
    if (omitted > 0) out.push(c.dim(`  │ … ${omitted} earlier lines`));
    for (const l of lines) out.push(`  ${c.dim("│")} ${sanitizeLine(l, c.isColorSupported)}`);
  }
  return fit(out, opts.columns);
}

/** Where every failure of a run can be seen, when the summary shows only the first `maxFailures`. */
export const MORE_FAILURES_HINT =
  "`tributary run --json` prints every failure, with its command and output (the step-end lines)";

/** The counts line and the critical-path line, plus the failed steps as asked. */
export function formatSummary(result: RunResult, opts: SummaryOptions = {}): string[] {
  const c = opts.colors ?? makeColors(false);
  const s = result.summary;
  const out: string[] = [];
  const mode = opts.failures ?? "full";
  const max = opts.maxFailures ?? 20;
  const failed = result.steps.filter((r) => r.status === "failed");
  if (mode !== "none" && failed.length > 0) {
    const shown = failed.slice(0, max);
    for (const r of shown) {
      if (mode === "full") out.push(...formatFailure(r, opts), "");
      else out.push(`${c.red("✗")} ${c.bold(r.id)}: ${c.red(errorHeadline(r.error))}`);
    }
    if (failed.length > shown.length) {
      const rest = failed.slice(max).map((r) => r.id);
      out.push(
        c.red(`✗ … and ${plural(rest.length, "more failure")}: ${formatList(rest, 10)}`),
        c.dim(`  ${MORE_FAILURES_HINT}`),
      );
    }
    if (mode === "brief") out.push("");
  }
  // Blocked steps, grouped by the failure that blocked them.
  const blockedBy = new Map<string, string[]>();
  for (const r of result.steps) {
    if (r.status !== "blocked") continue;
    const cause = r.blockedBy ?? "?";
    const list = blockedBy.get(cause) ?? blockedBy.set(cause, []).get(cause)!;
    list.push(r.id);
  }
  if (mode !== "none") {
    for (const [cause, ids] of blockedBy) {
      out.push(`${c.yellow("⊘")} ${ids.length} blocked by ${c.bold(cause)}: ${formatList(ids)}`);
    }
    const cancelled = result.steps.filter((r) => r.status === "cancelled");
    if (cancelled.length > 0) {
      const why = cancelled[0]!.error?.message ?? "cancelled";
      out.push(
        `${c.yellow("⊘")} ${cancelled.length} cancelled (${why}): ${formatList(cancelled.map((r) => r.id))}`,
      );
    }
    if (blockedBy.size > 0 || cancelled.length > 0) out.push("");
  }

  const counts = [
    c.green(`${s.ok} ok`),
    c.cyan(`${s.cached} cached`),
    s.failed > 0 ? c.red(c.bold(`${s.failed} failed`)) : `${s.failed} failed`,
    s.blocked > 0 ? c.yellow(`${s.blocked} blocked`) : `${s.blocked} blocked`,
    s.cancelled > 0 ? c.yellow(`${s.cancelled} cancelled`) : `${s.cancelled} cancelled`,
  ].join(c.dim(" · "));
  const head = result.ok ? c.green(c.bold("✓ done")) : c.red(c.bold("✗ FAILED"));
  out.push(`${head}  ${counts}  ${c.dim("in")} ${c.bold(formatDuration(s.wallMs))}`);

  const facts: string[] = [];
  // A run in which everything was restored has no path worth naming (every step took 0 ms).
  if (s.criticalPath.length > 0 && s.criticalPathMs > 0) {
    facts.push(`critical path ${formatDuration(s.criticalPathMs)}: ${formatChain(s.criticalPath)}`);
  }
  if (s.workMs > 0 && s.wallMs > 0) {
    facts.push(`parallelism ${(s.workMs / s.wallMs).toFixed(1)}× (${formatDuration(s.workMs)} of work)`);
  }
  if (facts.length > 0) out.push(c.dim(`  ${facts.join("  ·  ")}`));
  const r = s.remoteCache;
  if (r) {
    const parts = [`${r.fetched} fetched`, `${r.uploaded} uploaded`, `${r.refused} refused`];
    if (r.pending > 0) parts.push(c.yellow(`${r.pending} left to upload on a later run`));
    out.push(c.dim(`  remote cache: ${parts.join(" · ")}`));
  }
  return fit(out, opts.columns);
}

function fit(lines: string[], columns: number | undefined): string[] {
  return columns === undefined ? lines : lines.map((l) => truncate(l, columns));
}

export interface QuietOptions extends Omit<SummaryOptions, "failures"> {
  /** Also print the summary when every step succeeded. Default false: a quiet success says nothing. */
  summaryOnSuccess?: boolean;
}

/**
 * For `--quiet`: nothing while the run goes, then on failure the failed steps (command, reason, output
 * tail) and the summary. Warnings are still printed, as they happen.
 */
export function createQuietReporter(stream: OutputStream, opts: QuietOptions = {}): Reporter {
  const c = opts.colors ?? makeColors(false);
  return {
    onEvent(e: EngineEvent): void {
      if (e.type === "warning") {
        stream.write(`${c.yellow("warning")}${e.id ? ` ${e.id}` : ""}: ${e.message}\n`);
      } else if (e.type === "run-end" && (!e.result.ok || opts.summaryOnSuccess)) {
        stream.write(formatSummary(e.result, { ...opts, failures: "full" }).join("\n") + "\n");
      }
    },
    close(): void {},
  };
}
