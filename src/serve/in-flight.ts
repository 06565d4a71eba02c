/**
 * The flow requests being served: at most `max` at once (one more is refused, to be retried later),
 * and a way to wait until none is left (draining).
 */
export class InFlight {
  private n = 0;
  private idle: (() => void)[] = [];

  constructor(readonly max: number) {}

  get count(): number {
    return this.n;
  }

  /** Takes a place, or returns false when all `max` are taken. */
  tryEnter(): boolean {
    if (this.n >= this.max) return false;
    this.n++;
    return true;
  }

  leave(): void {
    this.n--;
    if (this.n === 0) for (const wake of this.idle.splice(0)) wake();
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    return this.n === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }
}
