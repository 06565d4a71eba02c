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

/** A capacity shared by some steps: a named pool, or one module's concurrency and rate limit. */
export class Gate {
  used = 0;
  /** Ready steps waiting for this gate, in the order they were parked. */
  parked: number[] = [];
  readonly bucket: TokenBucket | undefined;

  constructor(
    readonly name: string,
    readonly capacity: number,
    rate: Rate | undefined,
    now: number,
  ) {
    this.bucket = rate ? new TokenBucket(rate, now) : undefined;
  }

  get full(): boolean {
    return this.used >= this.capacity;
  }
}
