import { closeSync, constants, fstatSync, openSync, statSync, writeSync, type Stats } from "node:fs";
import type { ConnectOpts, Socket, SocketConstructorOpts } from "node:net";
import { NO_TOKEN, type SlotSource, type SlotToken } from "../../engine/slots.js";
import { net } from "./builtins.js";

/** Where a GNU make jobserver's tokens are, as MAKEFLAGS names it. */
export type JobserverAuth = { kind: "fifo"; path: string } | { kind: "pipe"; read: number; write: number };

/**
 * The jobserver MAKEFLAGS names: `--jobserver-auth=fifo:PATH` (make 4.4), `--jobserver-auth=R,W`
 * (make 4.2, 4.3) or `--jobserver-fds=R,W` (make 4.1 and before); the last one wins, as in make.
 * Undefined when there is none (make -j1, or no make at all).
 */
export function jobserverAuth(makeflags: string | undefined): JobserverAuth | undefined {
  if (!makeflags) return undefined;
  let auth: JobserverAuth | undefined;
  for (const word of makeflags.split(/\s+/)) {
    const m = /^--jobserver-(?:auth|fds)=(.*)$/.exec(word);
    if (!m) continue;
    const value = m[1]!;
    const pipe = /^(-?\d+),(-?\d+)$/.exec(value);
    if (value.startsWith("fifo:")) auth = { kind: "fifo", path: value.slice(5) };
    else if (pipe) auth = { kind: "pipe", read: Number(pipe[1]), write: Number(pipe[2]) };
    // A form we do not know (Windows' semaphore names): as if there were none; make warns likewise.
    else auth = undefined;
  }
  return auth;
}

/**
 * Opens the jobserver MAKEFLAGS names as a slot source for a run, or returns undefined when there is
 * none, or (after one warning) when it cannot be used: the run then keeps to its local -j.
 */
export function openJobserverClient(
  makeflags: string | undefined,
  warn: (message: string) => void,
): JobserverClient | undefined {
  const auth = jobserverAuth(makeflags);
  if (!auth) return undefined;
  try {
    return new JobserverClient(auth, warn);
  } catch (err) {
    warn(`${describe(auth)}: ${(err as Error).message}; running with the local -j instead`);
    return undefined;
  }
}

function describe(auth: JobserverAuth): string {
  return auth.kind === "fifo"
    ? `make's jobserver (fifo ${auth.path})`
    : `make's jobserver (fds ${auth.read},${auth.write})`;
}

/**
 * A client of a GNU make jobserver: reads tokens (one byte each) when the run waits for them, and
 * writes back exactly the bytes it read, never more, when the run is done with them, and on exit.
 *
 * Reading: a blocking read on an inherited fd would hang a libuv thread (and keep the process alive)
 * until make writes a token. So the client reads from a description of its own, opened O_NONBLOCK —
 * the fifo's path, or for make's pipe `/proc/self/fd/R`, which on Linux opens the pipe anew rather
 * than sharing make's description — through a net.Socket (libuv polls it) whose onread buffer is one
 * byte: each read takes one token, and reading stops as soon as the run has what it waits for, so no
 * token is held that no step needs (cargo's and ninja's clients likewise read one byte at a time).
 */
export class JobserverClient implements SlotSource {
  private readonly readFd: number;
  private readonly writeFd: number;
  /** Fds this client opened (and closes); make's inherited ones stay open for its other children. */
  private readonly own: number[] = [];
  private socket: Socket | undefined;
  /** The socket took over the read fd: it closes it. */
  private socketOpened = false;
  private reading = false;
  /** Tokens read, not yet taken by the run. */
  private readonly buffered: number[] = [];
  /** Tokens the run took and has not given back: written back on exit if it never does. */
  private readonly lent: number[] = [];
  private wanted = 0;
  private arrived: (() => void) | undefined;
  private notifying = false;
  private gaveUp = false;
  private closed = false;
  private readonly onExit = (): void => this.returnAll();

  constructor(
    private readonly auth: JobserverAuth,
    private readonly warn: (message: string) => void,
  ) {
    if (auth.kind === "fifo") {
      let st: Stats;
      try {
        st = statSync(auth.path);
      } catch (err) {
        throw new Error(`cannot find the fifo (${(err as NodeJS.ErrnoException).code})`);
      }
      if (!st.isFIFO()) throw new Error(`${auth.path} is not a fifo`);
      this.readFd = this.open(auth.path, constants.O_RDONLY);
      // Opened after the read end (ours), so a non-blocking open for writing cannot fail with ENXIO.
      this.writeFd = this.open(auth.path, constants.O_WRONLY);
    } else {
      checkPipe(auth);
      if (process.platform !== "linux") {
        throw new Error(
          `reading make's jobserver pipe needs /proc/self/fd (Linux); use make 4.4's fifo form`,
        );
      }
      this.readFd = this.open(`/proc/self/fd/${auth.read}`, constants.O_RDONLY);
      this.writeFd = auth.write;
    }
    process.on("exit", this.onExit);
  }

  private open(path: string, flags: number): number {
    try {
      const fd = openSync(path, flags | constants.O_NONBLOCK);
      this.own.push(fd);
      return fd;
    } catch (err) {
      for (const fd of this.own.splice(0)) closeSync(fd);
      throw new Error(`cannot open ${path} (${(err as NodeJS.ErrnoException).code})`);
    }
  }

  want(count: number, arrived: () => void): void {
    this.arrived = arrived;
    this.wanted = count;
    if (this.gaveUp || this.closed) return;
    // Tokens read for steps that no longer wait (cancelled, or handed a token that was freed) go back.
    while (this.buffered.length > count) this.write(this.buffered.pop()!);
    if (this.buffered.length < count) this.startReading();
    else this.stopReading();
  }

  take(): SlotToken | undefined {
    if (this.gaveUp) return NO_TOKEN;
    const t = this.buffered.shift();
    if (t !== undefined) this.lent.push(t);
    return t;
  }

  give(token: SlotToken): void {
    const k = this.lent.indexOf(token);
    // Never more back than was taken: a token not lent (NO_TOKEN, or one given twice) is dropped.
    if (k < 0) return;
    this.lent.splice(k, 1);
    this.write(token);
  }

  /** Stops reading and gives back every token still held; the client is unusable afterwards. */
  close(): void {
    if (this.closed) return;
    this.returnAll();
    this.closed = true;
    this.socket?.destroy();
    this.socket = undefined;
    for (const fd of this.own.splice(0)) {
      // The socket owned the read fd and closed it with itself.
      if (fd === this.readFd && this.socketOpened) continue;
      try {
        closeSync(fd);
      } catch {
        // Already closed.
      }
    }
    process.off("exit", this.onExit);
  }

  private startReading(): void {
    if (this.reading) return;
    this.reading = true;
    if (!this.socket) {
      this.socketOpened = true;
      // The constructor takes `onread` as connect() does (Node's net.js); the types list it for connect.
      const options: SocketConstructorOpts & ConnectOpts = {
        fd: this.readFd,
        readable: true,
        writable: false,
        onread: { buffer: Buffer.alloc(1), callback: (n, buf) => this.onRead(n, buf) },
      };
      this.socket = new (net().Socket)(options);
      // Waiting for a token must not keep the process alive: the steps that run do.
      this.socket.unref();
      this.socket.on("end", () => this.giveUp("make closed it (end of file)"));
      this.socket.on("error", (err: NodeJS.ErrnoException) =>
        this.giveUp(`reading failed (${err.code ?? err.message})`),
      );
    } else this.socket.resume();
  }

  private stopReading(): void {
    if (!this.reading) return;
    this.reading = false;
    this.socket?.pause();
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    if (n !== 1) return true;
    const token = buf[0]!;
    if (this.closed || this.gaveUp || this.buffered.length >= this.wanted) {
      this.write(token);
    } else this.buffered.push(token);
    this.notify();
    if (this.buffered.length >= this.wanted) {
      this.reading = false;
      // Stops at once: libuv does not read a byte more in this round.
      return false;
    }
    return true;
  }

  /** Tells the run, outside the read callback (the run may ask for more from inside its call). */
  private notify(): void {
    if (this.notifying || !this.arrived) return;
    this.notifying = true;
    setImmediate(() => {
      this.notifying = false;
      if (!this.closed && (this.buffered.length > 0 || this.gaveUp)) this.arrived?.();
    });
  }

  private giveUp(why: string): void {
    if (this.gaveUp || this.closed) return;
    this.gaveUp = true;
    this.warn(`${describe(this.auth)}: ${why}; running with the local -j from now on`);
    for (const t of this.buffered.splice(0)) this.write(t);
    this.stopReading();
    this.notify();
  }

  private write(token: number): void {
    try {
      writeSync(this.writeFd, Buffer.of(token));
    } catch (err) {
      // The token is lost to make's other children: say so once, the run goes on.
      this.giveUp(`cannot give a token back (${(err as NodeJS.ErrnoException).code})`);
    }
  }

  /** Synchronous, so that it also runs on process exit: every token held goes back. */
  private returnAll(): void {
    if (this.closed) return;
    for (const t of this.buffered.splice(0)) this.write(t);
    for (const t of this.lent.splice(0)) this.write(t);
  }
}

const PLUS_HINT = "make passes its jobserver only to a recipe line that runs $(MAKE) or starts with +";

/** Throws, saying what is wrong, unless R and W are the two ends of one pipe, as make passes them. */
export function checkPipe(auth: { read: number; write: number }): void {
  const r = pipeStat(auth.read, "read");
  const w = pipeStat(auth.write, "write");
  if (r.ino !== w.ino || r.dev !== w.dev) {
    throw new Error(`fds ${auth.read} and ${auth.write} are not the two ends of one pipe`);
  }
}

/**
 * Stats of an inherited fd that must be a pipe; what is wrong with it otherwise, for the warning. A fd
 * make did not pass on is closed when Node starts, which then takes the number for itself: that shows
 * as "not a pipe" (Node's epoll fd is the lowest it opens), so both say how make passes it on.
 */
function pipeStat(fd: number, end: "read" | "write"): Stats {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === "EBADF" ? `fd ${fd} is closed (${PLUS_HINT})` : `fd ${fd} cannot be read (${code})`,
    );
  }
  if (!st.isFIFO()) {
    throw new Error(
      `fd ${fd}, the ${end} end, is not a pipe (${PLUS_HINT}; without it the fd is closed or reused)`,
    );
  }
  return st;
}
