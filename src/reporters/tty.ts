import type { EngineEvent } from "../engine/events.js";
import type { StepResult } from "../engine/result.js";
import { makeColors, padEnd, sanitizeLine, truncate, visibleWidth, type Colors } from "./ansi.js";
import {
  errorHeadline,
  formatCommand,
  formatDuration,
  formatElapsed,
  formatList,
  optionalNumber,
} from "./format.js";
import { LiveOutput, type LiveOutputLimits } from "./live-output.js";
import { OutputBuffer } from "./output-buffer.js";
import { durationOf, Progress } from "./progress.js";
import { formatFailure, formatSummary } from "./summary.js";
import type { OutputStream, Reporter } from "./types.js";

export interface TtyOptions {
  colors?: Colors;
  /** Print step output live (prefixed by the step id) and every finished step. */
  verbose?: boolean;
  /** Terminal size; default the stream's, else 80×24. Read again on every redraw. */
  columns?: number;
  rows?: number;
  /** Milliseconds, monotonic; for the elapsed times of running steps. Default performance.now. */
  clock?: () => number;
  /** Redraw interval. Default 100 (10 redraws a second at most). 0: no timer, call render() yourself. */
  intervalMs?: number;
  /** Running steps listed at most (fewer on a short terminal). Default 8. */
  maxRunning?: number;
  /** Failures printed with their command and output; later ones get one line. Default 10. */
  maxDetailedFailures?: number;
  /** Output lines shown per failed step. Default 20. */
  tailLines?: number;
  /** Hide the cursor while the live area is shown. Default: when the stream is a real TTY. */
  hideCursor?: boolean;
  /** How much live output is shown per step (verbose); default LIVE_OUTPUT_LIMITS. */
  liveLimits?: LiveOutputLimits;
}

const ESC = "\x1b[";
const SYNC_ON = "\x1b[?2026h";
const SYNC_OFF = "\x1b[?2026l";

/**
 * A live view redrawn in place: a progress bar with counts and ETA, and the steps running now with how
 * long they have been at it. Everything that should stay (failures, retries, warnings, and with
 * `verbose` the steps' output) is printed above the live area as it happens; the live area itself never
 * reaches the scrollback. At the end the live area is replaced by the summary.
 */
export class TtyReporter implements Reporter {
  private readonly c: Colors;
  private readonly progress = new Progress();
  private readonly clock: () => number;
  private readonly outputs = new OutputBuffer();
  private readonly live: LiveOutput;
  /** Lines to print above the live area at the next redraw. */
  private pending: string[] = [];
  private readonly blocked = new Map<string, string[]>();
  private readonly cancelled = new Map<string, string[]>();
  /** Display widths of the lines of the live area now on screen. */
  private frame: number[] = [];
  private clockBase: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private detailed = 0;
  private cursorHidden = false;
  private ended = false;
  private printedAny = false;
  private closed = false;
  private readonly restoreCursor = (): void => {
    if (this.cursorHidden) this.stream.write(`${ESC}?25h`);
  };

  constructor(
    private readonly stream: OutputStream,
    private readonly opts: TtyOptions = {},
  ) {
    this.c = opts.colors ?? makeColors(false);
    this.clock = opts.clock ?? (() => performance.now());
    this.live = new LiveOutput((id, lines) => this.outputLines(id, lines), opts.liveLimits);
    // Bound, so that `{ onEvent: reporter.onEvent }` works.
    this.onEvent = this.onEvent.bind(this);
  }

  onEvent(e: EngineEvent): void {
    if (this.closed) return;
    this.progress.update(e);
    this.dirty = true;
    const c = this.c;
    switch (e.type) {
      case "run-start":
        this.clockBase = this.clock() - e.t;
        this.startTimer();
        break;
      case "step-start":
        if (this.opts.verbose && e.attempt === 1 && e.command) {
          this.print(c.dim(`${e.id} $ ${formatCommand(e.command)}`));
        }
        break;
      case "step-output":
        if (this.opts.verbose) {
          this.live.push(e.id, e.chunk, e.t);
        } else {
          this.outputs.push(e.id, e.chunk);
        }
        break;
      case "step-retry": {
        this.live.flush(e.id);
        this.outputs.clear(e.id);
        const max = optionalNumber(e, "maxAttempts");
        const next = `${e.attempt + 1}${max !== undefined ? `/${max}` : ""}`;
        this.print(
          `${c.yellow("↻")} ${e.id} ${c.yellow(`retry ${next} in ${formatDuration(e.delayMs)}`)}: ${errorHeadline(e.error)}`,
        );
        break;
      }
      case "step-end":
        this.finished(e.result, this.live.flush(e.result.id) > 0);
        break;
      case "warning":
        this.print(`${c.yellow("warning")}${e.id ? ` ${e.id}` : ""}: ${e.message}`);
        break;
      case "run-end":
        this.ended = true;
        this.live.flushAll();
        this.render();
        this.write(
          (this.printedAny ? "\n" : "") +
            formatSummary(e.result, {
              colors: c,
              columns: this.columns() - 1,
              failures: "brief",
            }).join("\n") +
            "\n",
        );
        this.close();
        break;
      default:
        break;
    }
  }

  /** Redraws now: prints what waits to be printed, then the live area in place of the old one. */
  render(): void {
    if (this.closed) return;
    this.dirty = false;
    const cols = this.columns();
    this.flushGroups();
    let out = "";
    if (!this.cursorHidden && !this.ended && (this.opts.hideCursor ?? this.stream.isTTY === true)) {
      this.cursorHidden = true;
      process.once("exit", this.restoreCursor);
      out += `${ESC}?25l`;
    }
    // Back to the top of the old live area (counting lines a narrower terminal now wraps), then erase.
    const up = this.frame.reduce((n, w) => n + Math.max(1, Math.ceil(w / cols)), 0);
    if (up > 0) out += `\r${ESC}${up}A${ESC}J`;
    for (const line of this.pending) out += truncate(line, cols - 1) + "\n";
    if (this.pending.length > 0) this.printedAny = true;
    this.pending = [];
    const frame = this.ended ? [] : this.drawFrame(cols - 1, this.rows());
    this.frame = frame.map(visibleWidth);
    for (const line of frame) out += line + "\n";
    if (out === "") return;
    this.write(this.stream.isTTY ? SYNC_ON + out + SYNC_OFF : out);
  }

  close(): void {
    if (this.closed) return;
    if (!this.ended) {
      // Closed before the run ended (Ctrl-C, an error): leave what was printed, drop the live area.
      this.ended = true;
      this.live.flushAll();
      this.render();
    }
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.cursorHidden) {
      this.stream.write(`${ESC}?25h`);
      this.cursorHidden = false;
      process.removeListener("exit", this.restoreCursor);
    }
  }

  /** The live area, one string per line, each at most `width` columns, at most `rows - 1` lines. */
  drawFrame(width: number, rows: number): string[] {
    const c = this.c;
    const p = this.progress;
    const now = this.runNow();
    const lines: string[] = [];

    const barWidth = Math.max(10, Math.min(30, Math.floor(width / 4)));
    const filled = p.total > 0 ? Math.round((barWidth * p.done) / p.total) : 0;
    const bar = c.green("█".repeat(filled)) + c.dim("░".repeat(barWidth - filled));
    const counts = [c.green(`${p.counts.ok} ok`)];
    if (p.counts.cached) counts.push(c.cyan(`${p.counts.cached} cached`));
    if (p.counts.failed) counts.push(c.red(`${p.counts.failed} failed`));
    if (p.counts.blocked) counts.push(c.yellow(`${p.counts.blocked} blocked`));
    if (p.counts.cancelled) counts.push(c.yellow(`${p.counts.cancelled} cancelled`));
    counts.push(`${p.running.size} running`);
    if (p.retrying.size) counts.push(c.yellow(`${p.retrying.size} retrying`));
    const eta = p.shownEtaMs(now);
    const timing = c.dim(`${formatElapsed(now)}${eta !== undefined ? ` · ETA ${formatDuration(eta)}` : ""}`);
    lines.push(
      truncate(`${bar} ${c.bold(`${p.done}/${p.total}`)}  ${counts.join(c.dim(" · "))}  ${timing}`, width),
    );

    type Row = { id: string; right: string; note: string };
    const rows_: Row[] = [];
    for (const r of p.running.values()) {
      const attempt = r.attempt > 1 ? ` #${r.attempt}` : "";
      rows_.push({
        id: r.id,
        right: formatElapsed(now - r.since) + attempt,
        note: r.command ? formatCommand(r.command) : "",
      });
    }
    for (const [id, due] of p.retrying) {
      rows_.push({ id, right: "", note: `retry in ${formatElapsed(Math.max(0, due - now))}` });
    }
    const room = Math.max(0, Math.min(this.opts.maxRunning ?? 8, rows - 1 - lines.length));
    const shown = rows_.length > room ? rows_.slice(0, Math.max(0, room - 1)) : rows_;
    const idWidth = Math.min(
      Math.max(0, ...shown.map((r) => visibleWidth(r.id))),
      Math.max(8, Math.floor(width / 3)),
    );
    const rightWidth = Math.max(0, ...shown.map((r) => r.right.length));
    for (const r of shown) {
      const id = padEnd(truncate(r.id, idWidth), idWidth);
      const line = `  ${c.cyan("›")} ${id}  ${r.right.padStart(rightWidth)}${r.note ? `  ${c.dim(r.note)}` : ""}`;
      lines.push(truncate(line, width));
    }
    if (shown.length < rows_.length && room > 0) {
      lines.push(c.dim(`  … and ${rows_.length - shown.length} more`));
    }
    return lines.slice(0, Math.max(1, rows - 1));
  }

  /** `cutLive`: some of the step's live output was not shown. */
  private finished(r: StepResult, cutLive: boolean): void {
    const c = this.c;
    if (r.status === "failed") {
      const verbose = this.opts.verbose === true;
      if (this.detailed < (this.opts.maxDetailedFailures ?? 10)) {
        this.detailed++;
        // With verbose the output was shown live already (unless some was not): do not repeat it.
        const shown = verbose && !cutLive ? { ...r, outputTail: undefined } : r;
        this.print(
          ...formatFailure(shown, {
            colors: c,
            tailLines: this.opts.tailLines,
            verbose,
            outputOf: verbose ? undefined : (id) => this.outputs.get(id),
          }),
        );
      } else {
        this.print(`${c.red("✗")} ${c.bold(r.id)}: ${c.red(errorHeadline(r.error))}`);
      }
    } else if (r.status === "blocked") {
      const cause = r.blockedBy ?? "a failed step";
      (this.blocked.get(cause) ?? this.blocked.set(cause, []).get(cause)!).push(r.id);
    } else if (r.status === "cancelled") {
      const why = r.error?.message ?? "cancelled";
      (this.cancelled.get(why) ?? this.cancelled.set(why, []).get(why)!).push(r.id);
    } else if (this.opts.verbose) {
      const d = durationOf(r);
      const what = r.cached
        ? c.cyan("cached")
        : `${c.green("ok")}${d !== undefined ? ` ${formatDuration(d)}` : ""}`;
      this.print(`${c.green("✓")} ${r.id} ${what}`);
    }
    this.outputs.clear(r.id);
  }

  private flushGroups(): void {
    const c = this.c;
    for (const [cause, ids] of this.blocked) {
      this.print(`${c.yellow("⊘")} ${ids.length} blocked by ${c.bold(cause)}: ${formatList(ids)}`);
    }
    this.blocked.clear();
    for (const [why, ids] of this.cancelled) {
      this.print(`${c.yellow("⊘")} ${ids.length} cancelled (${why}): ${formatList(ids)}`);
    }
    this.cancelled.clear();
  }

  private outputLines(id: string, lines: string[]): void {
    const prefix = this.c.dim(`${id} │`);
    for (const line of lines) this.pending.push(`${prefix} ${sanitizeLine(line, this.c.isColorSupported)}`);
  }

  private print(...lines: string[]): void {
    for (const l of lines) for (const part of l.split("\n")) this.pending.push(part);
  }

  private startTimer(): void {
    const every = this.opts.intervalMs ?? 100;
    if (every <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.dirty || this.progress.running.size > 0 || this.progress.retrying.size > 0) this.render();
    }, every);
    this.timer.unref();
  }

  private runNow(): number {
    const t = this.clockBase === undefined ? 0 : this.clock() - this.clockBase;
    return Math.max(t, this.progress.lastT);
  }

  private columns(): number {
    return Math.max(20, this.opts.columns ?? this.stream.columns ?? 80);
  }

  private rows(): number {
    return Math.max(2, this.opts.rows ?? this.stream.rows ?? 24);
  }

  private write(text: string): void {
    this.stream.write(text);
  }
}

export function createTtyReporter(stream: OutputStream, opts: TtyOptions = {}): TtyReporter {
  return new TtyReporter(stream, opts);
}
