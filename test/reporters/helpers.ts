/* eslint-disable no-control-regex -- terminal escapes are what these tests look at */
import { Writable } from "node:stream";
import { flow } from "../../src/index.js";

/** An in-memory stream that records every write, optionally posing as a terminal of a given size. */
export class MemoryStream extends Writable {
  readonly writes: string[] = [];
  columns?: number;
  rows?: number;
  isTTY?: boolean;

  constructor(size?: { columns?: number; rows?: number; isTTY?: boolean }) {
    super({ decodeStrings: false });
    Object.assign(this, size);
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes.push(String(chunk));
    cb();
  }

  text(): string {
    return this.writes.join("");
  }
}

const ESC_RE = /\x1b(?:\[([?0-9;]*)([A-Za-z])|\][^\x07]*\x07)/y;

/**
 * Just enough of a terminal to check that a live view redraws in place: a grid of lines (scrollback
 * plus screen, never trimmed), a cursor, cursor-up, carriage return, erase-below and erase-line. Colours
 * and private modes are ignored. `peak` is the most lines the buffer ever held.
 */
export class Terminal {
  lines: string[] = [""];
  row = 0;
  col = 0;

  write(data: string): void {
    let i = 0;
    while (i < data.length) {
      const ch = data[i]!;
      if (ch === "\x1b") {
        ESC_RE.lastIndex = i;
        const m = ESC_RE.exec(data);
        if (!m) throw new Error(`unknown escape at ${JSON.stringify(data.slice(i, i + 10))}`);
        i += m[0].length;
        const [, params = "", cmd] = m;
        if (cmd === "A") this.row = Math.max(0, this.row - Number(params || "1"));
        else if (cmd === "J") {
          this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
          this.lines.length = this.row + 1;
        } else if (cmd === "K") this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
        else if (cmd === "m" || cmd === "h" || cmd === "l") {
          /* colours and modes: no effect on layout */
        } else if (cmd !== undefined) throw new Error(`unsupported escape ${m[0]}`);
        continue;
      }
      if (ch === "\n") {
        this.row++;
        this.col = 0;
        if (this.lines.length <= this.row) this.lines.push("");
      } else if (ch === "\r") this.col = 0;
      else {
        const line = this.lines[this.row]!;
        this.lines[this.row] = line.slice(0, this.col).padEnd(this.col) + ch + line.slice(this.col + 1);
        this.col++;
      }
      i++;
    }
  }

  /** Everything on screen or in the scrollback, without the empty line under the cursor. */
  text(): string {
    return this.lines.join("\n").replace(/\n$/, "");
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A small real pipeline with every outcome: an in-process step that succeeds, one that fails twice and
 * then succeeds (retries), a process that prints and exits 3, a dependent it blocks, and an independent
 * branch that completes.
 */
export function mixedFlow() {
  const t = flow();
  let calls = 0;
  const load = t.step("load", async () => (await sleep(5), [1, 2, 3]));
  const flaky = t.step(
    { id: "flaky", retries: 3, backoff: { initial: 1, max: 2, jitter: 0 } },
    async (xs: number[]) => {
      await sleep(1);
      if (++calls < 3) throw new Error(`flaky failure ${calls}`);
      return xs.length;
    },
    load,
  );
  const compile = t.exec("compile", [
    process.execPath,
    "-e",
    "console.log('compiling my file.c'); for (let i = 1; i <= 30; i++) console.log('line ' + i); console.error('my file.c:3: error: boom'); process.exit(3)",
  ]);
  const link = t.step("link", (o: string, n: number) => `${o}:${n}`, compile, flaky);
  const report = t.step("report", (n: number) => `n=${n}`, flaky);
  return { t, targets: [link, report] };
}
