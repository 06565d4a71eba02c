import pc from "picocolors";
import type { SourceSpan } from "../graph/ir.js";

/**
 * A problem found in a flow file. Every diagnostic points at a span of the file (1-based line and
 * column, `endCol` exclusive) so that it can be shown with a caret under the offending text.
 */
export interface Diagnostic {
  severity: "error" | "warning";
  /** A stable, machine-readable name of the problem ("unknown-module", "unterminated-string", ...). */
  code: string;
  message: string;
  file: string;
  line: number;
  col: number;
  endLine: number;
  /** Exclusive. */
  endCol: number;
  /** 0-based offsets into the source, `end` exclusive. */
  start: number;
  end: number;
  /** A suggested fix ("did you mean GetUser?"). */
  hint?: string;
}

/** Offset -> line/column conversion for one source text; built once, O(log lines) per lookup. */
export class LineMap {
  private readonly starts: number[];

  constructor(readonly source: string) {
    const starts = [0];
    for (let i = source.indexOf("\n"); i !== -1; i = source.indexOf("\n", i + 1)) starts.push(i + 1);
    this.starts = starts;
  }

  /** 0-based line index of an offset. */
  lineIndex(offset: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** 1-based line and column. */
  position(offset: number): { line: number; col: number } {
    const li = this.lineIndex(offset);
    return { line: li + 1, col: offset - this.starts[li]! + 1 };
  }

  span(file: string, start: number, end: number): SourceSpan {
    const a = this.position(start);
    const b = this.position(Math.max(start, end));
    return { file, line: a.line, col: a.col, endLine: b.line, endCol: b.col };
  }

  /** The text of a 1-based line, without its line break. */
  lineText(line: number): string {
    const start = this.starts[line - 1];
    if (start === undefined) return "";
    const next = this.starts[line];
    let end = next === undefined ? this.source.length : next - 1;
    if (end > start && this.source.charCodeAt(end - 1) === 13) end--;
    return this.source.slice(start, end);
  }
}

/** Collects diagnostics for one file. */
export class DiagnosticSink {
  readonly list: Diagnostic[] = [];
  errors = 0;

  constructor(
    readonly file: string,
    readonly lines: LineMap,
  ) {}

  error(code: string, message: string, start: number, end: number, hint?: string): Diagnostic {
    return this.add("error", code, message, start, end, hint);
  }

  warning(code: string, message: string, start: number, end: number, hint?: string): Diagnostic {
    return this.add("warning", code, message, start, end, hint);
  }

  add(
    severity: Diagnostic["severity"],
    code: string,
    message: string,
    start: number,
    end: number,
    hint?: string,
  ): Diagnostic {
    const len = this.lines.source.length;
    start = Math.max(0, Math.min(start, len));
    end = Math.max(start, Math.min(end, len));
    const a = this.lines.position(start);
    const b = this.lines.position(end);
    const d: Diagnostic = {
      severity,
      code,
      message,
      file: this.file,
      line: a.line,
      col: a.col,
      endLine: b.line,
      endCol: b.col,
      start,
      end,
    };
    if (hint !== undefined) d.hint = hint;
    this.list.push(d);
    if (severity === "error") this.errors++;
    return d;
  }
}

/** Sorts by position (stable) and drops exact repeats. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  const sorted = list
    .map((d, i) => ({ d, i }))
    .sort((x, y) => x.d.start - y.d.start || x.i - y.i)
    .map((x) => x.d);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const d of sorted) {
    const key = `${d.start}:${d.end}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

export interface FormatOptions {
  /** Colour the output with ANSI escapes (picocolors). Default false. */
  color?: boolean;
}

/** Characters of a source line a diagnostic shows at most (a window around the caret past that). */
export const MAX_EXCERPT = 160;
/** How much of the line before the caret a window keeps. */
const EXCERPT_LEAD = 60;
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * ```
 * profile.flow:7:8: error: unknown module GetUsr
 * user = GetUsr(userId)
 *        ^~~~~~
 * hint: did you mean GetUser?
 * ```
 * `source` is the text of `d.file`; without it only the first line is printed.
 */
export function formatDiagnostic(
  d: Diagnostic,
  source?: string | LineMap,
  options: FormatOptions = {},
): string {
  const c = pc.createColors(options.color === true);
  const sev = d.severity === "error" ? c.bold(c.red("error")) : c.bold(c.yellow("warning"));
  const out = [`${c.bold(`${d.file}:${d.line}:${d.col}:`)} ${sev}: ${c.bold(d.message)}`];
  if (source !== undefined) {
    const lines = typeof source === "string" ? new LineMap(source) : source;
    const full = lines.lineText(d.line);
    if (full.length > 0 || d.col > 1) {
      let col = Math.min(d.col - 1, full.length);
      let last = d.endLine === d.line ? Math.min(d.endCol - 1, full.length) : full.length;
      // A long line is shown as a window around the caret, so that output stays small and quick.
      let text = full;
      if (full.length > MAX_EXCERPT) {
        const from = Math.max(0, Math.min(col - EXCERPT_LEAD, full.length - MAX_EXCERPT));
        const to = from + MAX_EXCERPT;
        const head = from > 0 ? "…" : "";
        text = head + full.slice(from, to) + (to < full.length ? "…" : "");
        col = col - from + head.length;
        last = Math.min(last, to) - from + head.length;
      }
      // Control and bidirectional-override characters would act on the terminal: one visible mark each.
      text = text.replace(UNPRINTABLE, "\uFFFD");
      out.push(text);
      const width = Math.max(1, last - col);
      // Keep tabs so that the caret lines up with the text above it.
      const pad = text.slice(0, col).replace(/[^\t]/g, " ");
      out.push(pad + c.green("^" + "~".repeat(width - 1)));
    }
  }
  if (d.hint) out.push(`${c.cyan("hint")}: ${d.hint}`);
  return out.join("\n");
}

/** Blocks formatDiagnostics prints at most: a garbage file has a million diagnostics (GBs of text). */
export const MAX_FORMATTED_DIAGNOSTICS = 100;

/** Each diagnostic, one block each, in order; past MAX_FORMATTED_DIAGNOSTICS only counted. */
export function formatDiagnostics(
  list: readonly Diagnostic[],
  source?: string | LineMap,
  options: FormatOptions = {},
): string {
  const lines = typeof source === "string" ? new LineMap(source) : source;
  const shown = list.slice(0, MAX_FORMATTED_DIAGNOSTICS);
  const text = shown.map((d) => formatDiagnostic(d, lines, options)).join("\n");
  const more = list.length - shown.length;
  return more > 0 ? `${text}\n… and ${more} more not shown` : text;
}
