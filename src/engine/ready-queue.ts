/**
 * A binary heap of step indices ordered by a caller-supplied "runs before" relation. Indices, not
 * objects, so pushing and popping 100k steps allocates nothing per step.
 */
export class ReadyQueue {
  private heap: Int32Array = new Int32Array(64);
  private n = 0;

  constructor(private readonly before: (a: number, b: number) => boolean) {}

  get size(): number {
    return this.n;
  }

  push(x: number): void {
    if (this.n === this.heap.length) {
      const bigger = new Int32Array(this.heap.length * 2);
      bigger.set(this.heap);
      this.heap = bigger;
    }
    const h = this.heap;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(x, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = x;
  }

  peek(): number {
    return this.n > 0 ? this.heap[0]! : -1;
  }

  pop(): number {
    if (this.n === 0) return -1;
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.n]!;
    let i = 0;
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(h[r]!, h[l]!) ? r : l;
      if (!this.before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    if (n > 0) h[i] = last;
    return top;
  }

  /** Removes and returns every element, in no particular order. */
  drain(): number[] {
    const out = Array.from(this.heap.subarray(0, this.n));
    this.n = 0;
    return out;
  }
}
