import { fstatSync, writeSync } from "node:fs";
import type { OutputStream } from "../reporters/types.js";

/**
 * How the command treats its standard streams, for the full CLI (bin.ts) and the fast answer
 * (fast-answer.ts) alike.
 */

/** A reader that left (EPIPE) is not the command's failure: what is written after is dropped. */
function leftEarly(err: NodeJS.ErrnoException): boolean {
  return err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED";
}

/**
 * A reader that stops early (`tributary run --json | head -1`, a pager closed) must not crash the
 * command with an EPIPE stack trace, nor leave a build half done: what is written after the reader
 * left is dropped, the command goes on and exits with its usual code.
 */
export function keepGoingWhenReadersLeave(): void {
  for (const stream of [process.stdout, process.stderr]) keepGoingOn(stream);
}

function keepGoingOn(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (!leftEarly(err)) throw err;
  });
  return stream;
}

/**
 * Exits once stdout and stderr have drained: a step that never settles (an in-process promise that
 * ignored its timeout) must not keep the command alive after the run is over.
 */
export function exitWhenDrained(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

/**
 * Standard output (1) or error (2) for a command that writes a few lines and ends, such as the fast
 * answer: a pipe or a file is written directly, because making `process.stdout` for a pipe loads Node's
 * network stack, which costs more than the whole answer (so does node:tty, to ask whether it is a
 * terminal). A character device (a terminal, /dev/null) gets the process's stream, which knows a
 * terminal's size. A reader that left is treated as keepGoingWhenReadersLeave treats it.
 */
export function directOutput(fd: 1 | 2): OutputStream {
  if (isCharacterDevice(fd)) return keepGoingOn(fd === 1 ? process.stdout : process.stderr);
  let open = true;
  return {
    write(text: string): boolean {
      let rest = Buffer.from(text);
      while (open && rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(fd, rest));
        } catch (err) {
          if (leftEarly(err as NodeJS.ErrnoException)) open = false;
          // A non-blocking pipe that is full: wait a moment for its reader.
          else if ((err as NodeJS.ErrnoException).code === "EAGAIN") sleepMs(1);
          else throw err;
        }
      }
      return true;
    },
  };
}

function isCharacterDevice(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return true; // closed or odd: the process's stream knows what to do with it
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
