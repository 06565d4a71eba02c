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
