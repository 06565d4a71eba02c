import type { EngineEvent } from "../engine/events.js";
import type { StepResult } from "../engine/result.js";
import { makeColors, sanitizeLine, type Colors } from "./ansi.js";
import { errorHeadline, formatCommand, formatDuration, optionalNumber, plural } from "./format.js";
import { LiveOutput, type LiveOutputLimits } from "./live-output.js";
import { OutputBuffer } from "./output-buffer.js";
import { durationOf, Progress } from "./progress.js";
import { formatSummary } from "./summary.js";
import type { OutputStream, Reporter } from "./types.js";

export interface PlainOptions {
  colors?: Colors;
  /** Print step output live, each line prefixed by the step id, and announce step starts. */
  verbose?: boolean;
  /** Lines of output shown per failed step in the final summary. Default 20. */
  tailLines?: number;
  /** How much live output is shown per step (verbose); default LIVE_OUTPUT_LIMITS. */
  liveLimits?: LiveOutputLimits;
}

/**
 * One line per finished step, for logs and CI, where nothing can be redrawn:
 *
 *     [12/60] orders ok 150ms (3 cached, 48 left, ETA 3.2s)
 *     [13/60] compile FAILED exit code 1 (after 1.20s)
 *     [14/60] link blocked by compile
 *
 * then the final summary with every failure's command and output tail.
 */
export class PlainReporter implements Reporter {
  private readonly c: Colors;
  private readonly progress = new Progress();
  private readonly live: LiveOutput;
  private readonly outputs = new OutputBuffer();
  private closed = false;

  constructor(
    private readonly stream: OutputStream,
    private readonly opts: PlainOptions = {},
  ) {
    this.c = opts.colors ?? makeColors(false);
    this.live = new LiveOutput((id, lines) => this.outputLines(id, lines), opts.liveLimits);
    // Bound, so that `{ onEvent: reporter.onEvent }` works.
    this.onEvent = this.onEvent.bind(this);
  }

  onEvent(e: EngineEvent): void {
    if (this.closed) return;
    this.progress.update(e);
    const c = this.c;
    switch (e.type) {
      case "run-start":
        this.write(c.dim(`running ${plural(e.steps.length, "step")} with ${plural(e.concurrency, "slot")}`));
        break;
      case "steps-added":
        if (this.opts.verbose) {
          this.write(c.dim(`${e.parent}: +${plural(e.steps.length, "item")} (${this.progress.total} steps)`));
        }
        break;
      case "step-start":
        if (this.opts.verbose) {
          const cmd = e.command ? ` $ ${formatCommand(e.command)}` : "";
          const attempt = e.attempt > 1 ? ` (attempt ${e.attempt})` : "";
          this.write(c.dim(`${e.id} started${attempt}${cmd}`));
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
        const max = optionalNumber(e, "maxAttempts");
        const next = `${e.attempt + 1}${max !== undefined ? `/${max}` : ""}`;
        this.write(
          `${c.yellow(`${e.id} retry ${next} in ${formatDuration(e.delayMs)}`)}: ${errorHeadline(e.error)}`,
        );
        this.outputs.clear(e.id);
        break;
      }
      case "step-end":
        this.live.flush(e.result.id);
        // A restored step did nothing worth a line of its own (a null build of 10k steps would print
        // 10k of them); the summary counts them. Verbose runs list them.
        if (!e.result.cached || this.opts.verbose) this.write(this.stepLine(e.result));
        if (e.result.status === "failed" && !e.result.outputTail) this.outputs.keep(e.result.id);
        else this.outputs.clear(e.result.id);
        break;
      case "warning":
        this.write(`${c.yellow("warning")}${e.id ? ` ${e.id}` : ""}: ${e.message}`);
        break;
      case "run-end":
        this.live.flushAll();
        this.write(
          "\n" +
            formatSummary(e.result, {
              colors: c,
              failures: "full",
              tailLines: this.opts.tailLines,
              verbose: this.opts.verbose,
              outputOf: (id) => this.outputs.get(id),
            }).join("\n"),
        );
        this.outputs.clearAll();
        break;
    }
  }

  close(): void {
    this.closed = true;
  }

  private stepLine(r: StepResult): string {
    const c = this.c;
    const p = this.progress;
    const counter = c.dim(`[${p.done}/${p.total}]`);
    let what: string;
    const d = durationOf(r);
    if (r.cached) what = c.cyan("cached");
    else if (r.status === "ok") what = `${c.green("ok")}${d !== undefined ? ` ${formatDuration(d)}` : ""}`;
    else if (r.status === "failed") {
      const facts = [
        d !== undefined ? `after ${formatDuration(d)}` : "",
        r.attempts > 1 ? `${r.attempts} attempts` : "",
      ]
        .filter(Boolean)
        .join(", ");
      what = `${c.red(c.bold("FAILED"))} ${c.red(errorHeadline(r.error))}${facts ? ` (${facts})` : ""}`;
    } else if (r.status === "blocked") what = c.yellow(`blocked by ${r.blockedBy ?? "a failed step"}`);
    else what = c.yellow(`cancelled${r.error ? `: ${r.error.message}` : ""}`);
    // Restored steps get no line of their own but count in [done/total]: say how many there were.
    const facts: string[] = [];
    if (p.counts.cached > 0) facts.push(`${p.counts.cached} cached`);
    if (p.left > 0) {
      const eta = p.shownEtaMs();
      facts.push(`${p.left} left${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ""}`);
    }
    const tail = facts.length > 0 ? c.dim(` (${facts.join(", ")})`) : "";
    return `${counter} ${r.id} ${what}${tail}`;
  }

  /** One write for all the lines of a chunk: a write per line made the run as slow as its output. */
  private outputLines(id: string, lines: string[]): void {
    const prefix = this.c.dim(`${id} |`);
    let text = "";
    for (const line of lines) text += `${prefix} ${sanitizeLine(line, this.c.isColorSupported)}\n`;
    this.stream.write(text);
  }

  private write(line: string): void {
    this.stream.write(line + "\n");
  }
}

export function createPlainReporter(stream: OutputStream, opts: PlainOptions = {}): PlainReporter {
  return new PlainReporter(stream, opts);
}
