import type { Rate } from "../graph/ir.js";

/**
 * Token bucket: starts full (a burst of `tokens`), refills continuously at tokens/perMs. Time is passed
 * in, never read, so the same code serves real runs and simulations.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly msPerToken: number;

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.tokens;
    this.last = now;
    this.msPerToken = rate.perMs / rate.tokens;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.rate.tokens, this.tokens + (now - this.last) / this.msPerToken);
      this.last = now;
    }
  }

  tryTake(now: number): boolean {
    this.refill(now);
    // A hair of tolerance: float refills must not leave a token at 0.9999999 forever.
    if (this.tokens >= 1 - 1e-9) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Whole tokens available now. */
  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens + 1e-9);
  }

  /** When the next token will be available. */
  readyAt(now: number): number {
    this.refill(now);
    return this.tokens >= 1 - 1e-9 ? now : now + (1 - this.tokens) * this.msPerToken;
  }
}

/**
 * How many steps may hold something at once, and how fast they may take it. A run owns its pools'
 * capacities; a module's may be shared by every run of the process (see module-gates.ts).
 */
export class Capacity {
  used = 0;
  readonly bucket: TokenBucket | undefined;

  constructor(
    readonly capacity: number,
    rate: Rate | undefined,
    now: number,
  ) {
    this.bucket = rate ? new TokenBucket(rate, now) : undefined;
  }

  get full(): boolean {
    return this.used >= this.capacity;
  }

  /** A holder let go; `waker` is the releasing run's own wake-up, which it does not need. */
  release(_waker?: () => void): void {
    this.used--;
  }

  /** While a run has steps parked here it wants to hear of releases made by other runs. */
  listen(_waker: () => void): void {}

  unlisten(_waker: () => void): void {}
}

/**
 * One scheduler's view of a capacity: its own parked steps, and its clock (run-relative) converted to
 * the capacity's, which for a shared bucket is absolute so that every run agrees on when tokens refill.
 */
export class Gate {
  /** Ready steps waiting for this gate, in the order they were parked. */
  parked: number[] = [];

  constructor(
    readonly name: string,
    readonly capacity: Capacity,
    private readonly clockOffset = 0,
  ) {}

  get full(): boolean {
    return this.capacity.full;
  }

  get room(): number {
    return this.capacity.capacity - this.capacity.used;
  }

  get rated(): boolean {
    return this.capacity.bucket !== undefined;
  }

  /** Takes a token if the gate is rated; true when the step may go. */
  tryTake(now: number): boolean {
    const b = this.capacity.bucket;
    return !b || b.tryTake(now + this.clockOffset);
  }

  /** Tokens available now (Infinity without a rate). */
  available(now: number): number {
    const b = this.capacity.bucket;
    return b ? b.available(now + this.clockOffset) : Infinity;
  }

  /** When the next token will be available, on the scheduler's clock. */
  readyAt(now: number): number {
    const b = this.capacity.bucket;
    return b ? b.readyAt(now + this.clockOffset) - this.clockOffset : now;
  }
}
