import { closeSync, fstatSync, openSync, readSync, unlinkSync } from "node:fs";

/** How much of a step's output is kept for failure reports. */
export const TAIL_BYTES = 16 * 1024;

/** The last `limit` bytes written, decoded at the end (so a multi-byte character split is rare). */
export class Tail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly limit: number = TAIL_BYTES) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes - this.chunks[0]!.length >= this.limit) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString();
  }
}

/** Stdout kept as a value, up to a limit; past it nothing more is held (the step will fail). */
export class KeptStdout {
  private chunks: Buffer[] = [];
  private bytes = 0;
  overflow = false;

  constructor(private readonly limit: number) {}

  push(b: Buffer): void {
    if (this.limit <= 0 || this.overflow) return;
    this.bytes += b.length;
    if (this.bytes > this.limit) {
      this.overflow = true;
      this.chunks = [];
    } else this.chunks.push(b);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/**
 * The whole file when it fits in `keep` bytes, else only its tail; `overflow` says which. The file is
 * deleted. Synchronous on purpose: these files are almost always tiny, and a dozen syscalls in a row cost
 * tens of microseconds where the same calls through libuv's thread pool cost milliseconds of hand-offs.
 */
export function readCaptured(path: string, keep: number): { text: string; tail: string; overflow: boolean } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return { text: "", tail: "", overflow: false };
  }
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return { text: "", tail: "", overflow: false };
    if (size <= Math.max(keep, TAIL_BYTES)) {
      const buf = Buffer.allocUnsafe(size);
      const n = readSync(fd, buf, 0, size, 0);
      const text = buf.toString("utf8", 0, n);
      return {
        text: size <= keep ? text : "",
        tail: text.slice(-TAIL_BYTES),
        overflow: size > keep && keep > 0,
      };
    }
    const buf = Buffer.allocUnsafe(TAIL_BYTES);
    const n = readSync(fd, buf, 0, TAIL_BYTES, size - TAIL_BYTES);
    return { text: "", tail: buf.toString("utf8", 0, n), overflow: keep > 0 };
  } finally {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // Already gone (the directory was removed on close).
    }
  }
}
