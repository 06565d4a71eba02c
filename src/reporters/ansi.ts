/* eslint-disable no-control-regex -- this file handles terminal control characters on purpose */
import { createRequire } from "node:module";
import type * as Picocolors from "picocolors";

export type Colors = ReturnType<typeof Picocolors.createColors>;

/**
 * Colours off: every colour function gives its text back, as picocolors' own `createColors(false)` does.
 * Without loading picocolors, whose first line makes `process.stdout` (for a pipe, Node's network stack:
 * more than the whole of a null run's answer, see cli/streams.ts).
 */
const NO_COLORS = new Proxy({} as Colors, {
  get: (_, key) => (key === "isColorSupported" ? false : String),
});

/** A picocolors instance with colours explicitly on or off (never the library's own global guess). */
export function makeColors(enabled: boolean): Colors {
  if (!enabled) return NO_COLORS;
  // picocolors is CommonJS: importing it as ESM makes Node lex its source for named exports on every
  // start (as for commander, see cli/commander.ts); require() does not.
  const pc = createRequire(import.meta.url)("picocolors") as typeof Picocolors;
  return pc.createColors(true);
}

/**
 * Whether to colour output written to a stream. `NO_COLOR` (non-empty) always wins; `FORCE_COLOR` turns
 * colours on (`0` or `false` turn them off); otherwise only on a real terminal that is not `TERM=dumb`.
 */
export function colorEnabled(opts: { env?: NodeJS.ProcessEnv; isTTY?: boolean }): boolean {
  const env = opts.env ?? {};
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  return opts.isTTY === true && env.TERM !== "dumb";
}

// CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ST), and other two-byte escapes.
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const SGR_RE = /^\x1b\[[0-9;]*m$/;

export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, "");
}

/** Display width of one code point: 0 for combining marks and zero-width characters, 2 for wide ones. */
function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0x20d0 && cp <= 0x20ff)
  ) {
    return 0;
  }
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Columns the text takes on a terminal (escape sequences take none). */
export function visibleWidth(text: string): number {
  let w = 0;
  for (const ch of stripAnsi(text)) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/**
 * Cuts the text to at most `width` terminal columns, ending with `…` when something was cut. Escape
 * sequences are kept (they take no room) and colours are reset after a cut.
 */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (visibleWidth(text) <= width) return text;
  let out = "";
  let w = 0;
  let styled = false;
  let last = 0;
  const take = (plain: string): boolean => {
    for (const ch of plain) {
      const cw = charWidth(ch.codePointAt(0)!);
      if (w + cw > width - 1) return false;
      out += ch;
      w += cw;
    }
    return true;
  };
  for (const m of text.matchAll(ANSI_RE)) {
    if (!take(text.slice(last, m.index))) return finish();
    out += m[0];
    styled = true;
    last = m.index + m[0].length;
  }
  take(text.slice(last));
  return finish();

  function finish(): string {
    return out + "…" + (styled ? "\x1b[0m" : "");
  }
}

/** Pads to `width` columns (by display width, not string length). */
export function padEnd(text: string, width: number): string {
  const w = visibleWidth(text);
  return w >= width ? text : text + " ".repeat(width - w);
}

/**
 * Makes one line of a step's own output safe to put on our terminal: cursor movements, OSC and other
 * control characters are dropped (they would wreck the live area), tabs become spaces, and a line a
 * progress bar rewrote with `\r` keeps only its last state. Colours are kept only when `keepColor`.
 */
export function sanitizeLine(line: string, keepColor: boolean): string {
  let s = line;
  const cr = s.lastIndexOf("\r", s.length - 2);
  if (cr >= 0) s = s.slice(cr + 1);
  s = s.replace(ANSI_RE, (seq) => (keepColor && SGR_RE.test(seq) ? seq : ""));
  s = s.replace(/\t/g, "    ");
  s = s.replace(/[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\r]/g, "");
  // A stray ESC left after the sequences above is dropped too, unless it starts a kept SGR sequence.
  s = s.replace(/\x1b(?!\[[0-9;]*m)/g, "");
  return keepColor && s.includes("\x1b[") ? s + "\x1b[0m" : s;
}
