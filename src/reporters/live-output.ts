import { formatSize } from "../graph/units.js";

/** How much of a step's live output (`--verbose`) is shown. */
export interface LiveOutputLimits {
  /** Lines shown per step per window; the rest of the window's output is counted, not shown. */
  lines: number;
  /** Characters shown per step per window. */
  chars: number;
  /** The window, in run time (the events' `t`, ms). */
  windowMs: number;
  /** A longer line is cut here (`…`); the rest of it is counted as not shown. */
  maxLine: number;
}

/**
 * A person reads a few lines a second; a terminal or a CI log takes a few MB a second at best. A step can
 * write a GB a second, and printing that line by line used to make the whole run as slow as the
 * printing (0.25 MB/s of short lines: one write per line). So each step gets a budget per second, and
 * what is over it is counted and said ("… 12.3 MB not shown"), never queued.
 */
export const LIVE_OUTPUT_LIMITS: LiveOutputLimits = {
  lines: 1000,
  chars: 128 * 1024,
  windowMs: 1000,
  maxLine: 4096,
};

interface StepOutput {
  windowStart: number;
  shownLines: number;
  shownChars: number;
  /** The start of a line whose newline has not arrived yet, in pieces (joined once, when it ends). */
  partial: string[];
  partialLength: number;
  /** Output is dropped up to the next newline (a line cut short, or the budget ran out mid-line). */
  dropLine: boolean;
  /** Bytes not shown since the last notice, and in all. */
  skipped: number;
  skippedTotal: number;
}

/**
 * Live step output for display: cut into whole lines per step, at most `limits` per step per window.
 * A line is handed on once its newline arrives; the last one when the step ends. Output over the budget
 * costs one byte count per chunk, however many lines it holds, so showing output is never slower than
 * the step writing it; when output is shown again (next window, or the step ended) a notice line says how
 * much was not. Lines of one chunk are handed on together, to be written at once.
 */
export class LiveOutput {
  private readonly steps = new Map<string, StepOutput>();
  private explained = false;

  constructor(
    private readonly emit: (id: string, lines: string[]) => void,
    private readonly limits: LiveOutputLimits = LIVE_OUTPUT_LIMITS,
  ) {}

  push(id: string, chunk: string, t: number): void {
    let s = this.steps.get(id);
    if (!s) {
      s = {
        windowStart: t,
        shownLines: 0,
        shownChars: 0,
        partial: [],
        partialLength: 0,
        dropLine: false,
        skipped: 0,
        skippedTotal: 0,
      };
      this.steps.set(id, s);
    }
    const out: string[] = [];
    if (t - s.windowStart >= this.limits.windowMs) {
      s.windowStart = t;
      s.shownLines = 0;
      s.shownChars = 0;
      this.notice(s, out);
    }
    this.split(s, chunk, out);
    if (out.length > 0) this.emit(id, out);
  }

  /** The step ended (or is retried): its last line and what was not shown. Returns the bytes not shown. */
  flush(id: string): number {
    const s = this.steps.get(id);
    if (!s) return 0;
    this.steps.delete(id);
    const out: string[] = [];
    if (s.partialLength > 0 && !s.dropLine) out.push(s.partial.join(""));
    this.notice(s, out);
    if (out.length > 0) this.emit(id, out);
    return s.skippedTotal;
  }

  flushAll(): void {
    for (const id of [...this.steps.keys()]) this.flush(id);
  }

  private split(s: StepOutput, chunk: string, out: string[]): void {
    const { lines, chars, maxLine } = this.limits;
    let from = 0;
    while (from < chunk.length) {
      if (s.shownLines >= lines || s.shownChars >= chars) {
        // Over budget: the rest of the chunk is only counted; what was shown resumes at a line start.
        this.skip(s, from === 0 ? chunk : chunk.slice(from));
        if (s.partialLength > 0) this.skip(s, s.partial.join(""));
        s.partial = [];
        s.partialLength = 0;
        // Skipping stopped mid-line: what follows up to the next newline is not shown either.
        s.dropLine = chunk.charCodeAt(chunk.length - 1) !== 10;
        return;
      }
      const nl = chunk.indexOf("\n", from);
      const end = nl < 0 ? chunk.length : nl;
      const next = nl < 0 ? chunk.length : nl + 1;
      if (s.dropLine) {
        this.skip(s, chunk.slice(from, next));
        s.dropLine = nl < 0;
      } else if (s.partialLength + (end - from) > maxLine) {
        const room = maxLine - s.partialLength;
        this.show(s, s.partial.join("") + chunk.slice(from, from + room) + "…", out);
        this.skip(s, chunk.slice(from + room, next));
        s.dropLine = nl < 0;
      } else if (nl < 0) {
        s.partial.push(chunk.slice(from));
        s.partialLength += chunk.length - from;
      } else {
        this.show(
          s,
          s.partialLength > 0 ? s.partial.join("") + chunk.slice(from, nl) : chunk.slice(from, nl),
          out,
        );
      }
      from = next;
    }
  }

  private show(s: StepOutput, line: string, out: string[]): void {
    s.partial = [];
    s.partialLength = 0;
    s.shownLines++;
    s.shownChars += line.length + 1;
    out.push(line);
  }

  private skip(s: StepOutput, text: string): void {
    const n = Buffer.byteLength(text);
    s.skipped += n;
    s.skippedTotal += n;
  }

  private notice(s: StepOutput, out: string[]): void {
    if (s.skipped === 0) return;
    // Where all of it can be seen, said once per run.
    const { lines, windowMs } = this.limits;
    const per = windowMs === 1000 ? "a second" : `per ${windowMs} ms`;
    const why = this.explained
      ? ""
      : ` (live output shows at most ${lines} lines ${per} per step; \`tributary run --json\` prints all of it)`;
    this.explained = true;
    out.push(`… ${formatSize(s.skipped)} not shown${why}`);
    s.skipped = 0;
  }
}
