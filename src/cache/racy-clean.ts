import { fstatSync, mkdirSync, openSync, writeSync, closeSync, type Stats } from "node:fs";
import { dirname } from "node:path";

/**
 * The "racy clean" rule (git's term) of the stat cache, and the clock it needs. Timestamps have a
 * granularity (a clock tick), so a file rewritten with the same size within the tick of its previous
 * write keeps the very same stat. An entry is therefore trusted only when the file's mtime and ctime are
 * strictly older than a timestamp of the same file system's clock taken *before* the file was read (the
 * probe: a one-byte write to a file next to the cache, then fstat). Any later write to the file gets a
 * timestamp at least that of the probe, so it cannot reproduce the recorded stat.
 *
 * Files on another device than the probe use the wall clock minus two seconds instead (a coarse but
 * safe stand-in for file systems with 1–2 s timestamps or a slightly different clock).
 *
 * Timestamps are Node's millisecond floats; they resolve ~0.25 µs, and every comparison against the
 * probe keeps a 1 µs margin, so rounding cannot turn "same tick" into "older".
 */

/** Lower bounds of the clocks that will stamp any write starting after it was taken. */
export interface Clock {
  fs: number;
  dev: number;
  wall: number;
}

/** What the stat cache knows of one file: its stat when it was read, and the digest read. */
export interface StatEntry {
  dev: number;
  ino: number;
  size: number;
  mtime: number;
  ctime: number;
  /** The probe taken before the file was read. */
  rec: number;
  digest: string;
}

export const MARGIN = 0.001; // 1 µs, in milliseconds

/** Whether an entry's stat proves its content: the file was last written before the clock was read. */
export function trusted(e: StatEntry): boolean {
  return e.rec - MARGIN > Math.max(e.mtime, e.ctime);
}

const PROBE_BYTE = Buffer.from("p");

/** The file system's clock, read by writing one byte to a probe file and looking at its mtime. */
export class ClockProbe {
  private fd: number | undefined;
  private device = -1;
  private value = -Infinity;
  private at = -Infinity;
  private failed = false;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** The device of the probe file (-1 before the first probe, or when it cannot be written). */
  get dev(): number {
    return this.device;
  }

  /**
   * Lower bounds of the clocks that will stamp any write starting after this call: the file system's
   * (from the probe) and the wall clock minus two seconds (for files on other devices).
   */
  clock(): Clock {
    return { fs: this.fsClock(true), dev: this.device, wall: Date.now() - 2000 };
  }

  /**
   * The file system clock now (or up to 1 ms ago: a probe taken earlier is still a valid lower bound,
   * only more conservative), unless `fresh`.
   */
  fsClock(fresh = false): number {
    if (this.failed) return -Infinity;
    const now = performance.now();
    if (!fresh && now - this.at < 1) return this.value;
    try {
      if (this.fd === undefined) {
        mkdirSync(dirname(this.path), { recursive: true });
        this.fd = openSync(this.path, "w");
        // With multigrain timestamps (Linux 6.13+), a file whose times were looked at gets a
        // fine-grained stamp on its next write: look once, so that even the first probe is exact.
        fstatSync(this.fd);
      }
      writeSync(this.fd, PROBE_BYTE, 0, 1, 0);
      const st = fstatSync(this.fd);
      this.device = st.dev;
      this.value = st.mtimeMs;
      this.at = now;
      // Probed after close (the run's record, written once the cache is flushed): keep nothing open.
      if (this.closed) this.close();
    } catch (err) {
      if (this.fd === undefined) {
        this.warn(
          `cannot write the clock probe ${this.path}: ${(err as Error).message}; using the wall clock`,
        );
        this.failed = true;
        this.device = -1;
        return -Infinity;
      }
    }
    return this.value;
  }

  /**
   * A file written after the (reused) probe `fsClock`: probe again before reading it, or its entry would
   * be racy for no reason (a step's output, hashed right after it was written).
   */
  freshIfRecent(before: Stats, fsClock: number): number {
    return before.dev === this.device && Math.max(before.mtimeMs, before.ctimeMs) >= fsClock - MARGIN
      ? this.fsClock(true)
      : fsClock;
  }

  /** Waits (at most `maxWaitMs`) until the file system clock has passed `newest`. */
  async waitPast(newest: number, maxWaitMs: number): Promise<void> {
    const deadline = performance.now() + maxWaitMs;
    this.at = -Infinity;
    while (this.fsClock() - MARGIN <= newest && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
      this.at = -Infinity;
    }
  }

  close(): void {
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
