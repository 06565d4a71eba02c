/**
 * The recent output of each running step, bounded per step, for failure reports of steps whose result
 * carries no `outputTail` of its own. Entries are dropped when a step succeeds; failed steps keep
 * theirs until the run ends, at most `maxKept` of them.
 */
export class OutputBuffer {
  /** Each step's last chunks, at most `maxBytes` beyond the first of them; joined only when read. */
  private readonly steps = new Map<string, { chunks: string[]; length: number }>();
  private kept = 0;

  constructor(
    private readonly maxBytes = 16 * 1024,
    private readonly maxKept = 100,
  ) {}

  push(id: string, chunk: string): void {
    let s = this.steps.get(id);
    if (!s) this.steps.set(id, (s = { chunks: [], length: 0 }));
    s.chunks.push(chunk);
    s.length += chunk.length;
    // Constant work per chunk, however small the chunks are: no copy of what is kept already.
    while (s.chunks.length > 1 && s.length - s.chunks[0]!.length >= this.maxBytes) {
      s.length -= s.chunks.shift()!.length;
    }
  }

  get(id: string): string | undefined {
    const s = this.steps.get(id);
    if (!s) return undefined;
    let text = s.chunks.join("");
    if (text.length > this.maxBytes) {
      text = text.slice(text.length - this.maxBytes);
      const nl = text.indexOf("\n");
      if (nl >= 0 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    return text;
  }

  /** The step failed: keep its output for the summary (or drop it when too many are kept already). */
  keep(id: string): void {
    if (!this.steps.has(id)) return;
    if (++this.kept > this.maxKept) this.steps.delete(id);
  }

  clear(id: string): void {
    this.steps.delete(id);
  }

  clearAll(): void {
    this.steps.clear();
    this.kept = 0;
  }
}
