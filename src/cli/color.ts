import { colorEnabled } from "../reporters/ansi.js";

/** Colour for diagnostics on stderr, by the same rules as the reporters (NO_COLOR, FORCE_COLOR, TTY). */
export function stderrColor(): boolean {
  return colorEnabled({ env: process.env, isTTY: process.stderr.isTTY === true });
}
