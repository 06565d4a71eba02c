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

/** What the job server's file of one stream gave: as `Tail` and `KeptStdout` give for a direct spawn. */
export interface Captured {
  text: string;
  tail: string;
  overflow: boolean;
  /** The file is gone or short (removed while the job ran): what the step wrote is not known. */
  missing?: string;
}

/**
 * A stream the job server captured: the whole of it when it had at most `keep` bytes, else only its
 * tail; `overflow` says which. `written` is how many bytes the stream had: what the server kept is only
 * the first `max(keep, TAIL_BYTES)` of them and then the last TAIL_BYTES (job-server-script.ts), so its
 * size is no measure of it. The kept bytes come in the end message (`inline`) or in the stream's file,
 * read here and deleted. Synchronous on purpose: these files are small, and a dozen syscalls in a row
 * cost tens of microseconds where the same calls through libuv's thread pool cost milliseconds of
 * hand-offs.
 */
export function readCaptured(path: string, keep: number, written: number, inline?: Buffer): Captured {
  const overflow = written > keep && keep > 0;
  const head = Math.max(keep, TAIL_BYTES);
  const expected = written <= head ? written : head + Math.min(TAIL_BYTES, written - head);
  if (inline !== undefined) {
    if (inline.length !== expected) {
      return {
        text: "",
        tail: "",
        overflow,
        missing: `its end message has ${inline.length} of its ${expected} bytes`,
      };
    }
    return fromKept(inline, keep, written, overflow);
  }
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return { text: "", tail: "", overflow, missing: written > 0 ? `${path} is gone` : undefined };
  }
  try {
    const { size } = fstatSync(fd);
    if (size !== expected) {
      return { text: "", tail: "", overflow, missing: `${path} has ${size} of its ${expected} bytes` };
    }
    if (size === 0) return { text: "", tail: "", overflow };
    // Only what is used is read: the whole (a value), or the tail.
    const n = written <= keep ? size : Math.min(size, TAIL_BYTES);
    const buf = Buffer.allocUnsafe(n);
    return fromKept(buf.subarray(0, readSync(fd, buf, 0, n, size - n)), keep, written, overflow, size);
  } finally {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // Already gone (the directory was removed on close).
    }
  }
}

/** The value and tail of kept bytes (all of them, or their last `bytes.length` of `size`). */
function fromKept(
  bytes: Buffer,
  keep: number,
  written: number,
  overflow: boolean,
  size = bytes.length,
): Captured {
  if (size === 0) return { text: "", tail: "", overflow };
  if (written <= keep) {
    const text = bytes.toString("utf8");
    return { text, tail: text.slice(-TAIL_BYTES), overflow };
  }
  return {
    text: "",
    tail: bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES)).toString("utf8"),
    overflow,
  };
}
