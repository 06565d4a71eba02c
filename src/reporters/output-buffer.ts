import { LineSplitter } from "./ansi.js";
/**
 * The recent output of each running step, bounded per step, for failure reports of steps whose result
 * carries no `outputTail` of its own. Entries are dropped when a step succeeds; failed steps keep
 * theirs until the run ends, at most `maxKept` of them.
 */
export class OutputBuffer {
  private readonly chunks = new Map<string, string>();
  private kept = 0;

  constructor(
    private readonly maxBytes = 16 * 1024,
    private readonly maxKept = 100,
  ) {}

  push(id: string, chunk: string): void {
    let text = (this.chunks.get(id) ?? "") + chunk;
    if (text.length > this.maxBytes) {
      text = text.slice(text.length - this.maxBytes);
      const nl = text.indexOf("\n");
      if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    this.chunks.set(id, text);
  }

  get(id: string): string | undefined {
    return this.chunks.get(id);
  }

  /** The step failed: keep its output for the summary (or drop it when too many are kept already). */
  keep(id: string): void {
    if (!this.chunks.has(id)) return;
    if (++this.kept > this.maxKept) this.chunks.delete(id);
  }

  clear(id: string): void {
    this.chunks.delete(id);
  }

  clearAll(): void {
    this.chunks.clear();
    this.kept = 0;
  }
}

/**
 * Live step output, split into whole lines per step: a line is handed on once its newline arrives, and
 * whatever is left when the step ends or the run stops is flushed as a last line.
 */
export class LiveLines {
  private readonly splitters = new Map<string, LineSplitter>();

  constructor(private readonly line: (id: string, line: string) => void) {}

  push(id: string, chunk: string): void {
    let sp = this.splitters.get(id);
    if (!sp) this.splitters.set(id, (sp = new LineSplitter()));
    for (const l of sp.push(chunk)) this.line(id, l);
  }

  flush(id: string): void {
    const sp = this.splitters.get(id);
    if (!sp) return;
    for (const l of sp.flush()) this.line(id, l);
    this.splitters.delete(id);
  }

  flushAll(): void {
    for (const id of [...this.splitters.keys()]) this.flush(id);
  }
}
