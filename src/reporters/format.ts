/* eslint-disable no-control-regex -- this file handles terminal control characters on purpose */
import type { StepError } from "../engine/result.js";
import { formatDuration } from "../graph/units.js";
import type { StepId } from "../graph/ir.js";

export { formatDuration };

/** Elapsed time of something still running, to a tenth of a second (calmer to watch than ms). */
export function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatDuration(ms);
}

const SAFE_WORD = /^[A-Za-z0-9_\-+=/.,:@%^]+$/;

/**
 * Quotes one word for display so that it can be pasted into /bin/sh: plain words as they are, others
 * in single quotes, and words with control characters (newlines) in `$'…'` so they stay on one line.
 */
export function shellQuote(word: string): string {
  if (word === "") return "''";
  if (SAFE_WORD.test(word)) return word;
  if (/[\x00-\x1f\x7f]/.test(word)) {
    const body = word.replace(/[\\'\x00-\x1f\x7f]/g, (c) => {
      if (c === "\\") return "\\\\";
      if (c === "'") return "\\'";
      if (c === "\n") return "\\n";
      if (c === "\t") return "\\t";
      if (c === "\r") return "\\r";
      return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    });
    return `$'${body}'`;
  }
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A command line for display. `sh -c LINE` is shown as LINE itself (it already is shell syntax);
 * other argv are quoted word by word.
 */
export function formatCommand(argv: readonly string[]): string {
  if (argv.length === 3 && (argv[0] === "sh" || argv[0] === "/bin/sh") && argv[1] === "-c") {
    return argv[2]!.replace(/\r?\n/g, " ⏎ ");
  }
  return argv.map(shellQuote).join(" ");
}

/**
 * The short reason a step failed: the exit code, the signal, or the error kind with its message.
 * Process messages the engine already phrases well (`exited with code 1`) are not repeated.
 */
export function errorHeadline(error: StepError | undefined): string {
  if (!error) return "failed";
  const msg = firstLine(error.message);
  switch (error.kind) {
    case "exit":
      if (error.exitCode !== undefined) {
        return /^exited with code \d+$/.test(msg)
          ? `exit code ${error.exitCode}`
          : `exit code ${error.exitCode}: ${msg}`;
      }
      return msg;
    case "signal":
      return error.signal && !msg.includes(error.signal) ? `${msg} (${error.signal})` : msg;
    case "timeout":
      return error.signal ? `${msg} (killed with ${error.signal})` : msg;
    case "threw":
      return msg;
    case "spawn":
      return `could not start: ${msg}`;
    default:
      return `${error.kind} error: ${msg}`;
  }
}

export function firstLine(text: string): string {
  const i = text.indexOf("\n");
  return i < 0 ? text : text.slice(0, i) + " …";
}

/** The last `n` non-empty-at-the-end lines of a captured output. */
export function tailLines(text: string, n: number): { lines: string[]; omitted: number } {
  const all = text.replace(/\s+$/, "").split(/\r?\n/);
  if (all.length === 1 && all[0] === "") return { lines: [], omitted: 0 };
  const lines = all.slice(-n);
  return { lines, omitted: all.length - lines.length };
}

/** `a → b → c`, with the middle left out (`… 12 more …`) when the chain is long. */
export function formatChain(ids: readonly StepId[], max = 7): string {
  if (ids.length <= max) return ids.join(" → ");
  const head = Math.ceil((max - 1) / 2);
  const tail = max - 1 - head;
  return [...ids.slice(0, head), `… ${ids.length - head - tail} more …`, ...ids.slice(-tail)].join(" → ");
}

/** `a, b, c and 4 more`. */
export function formatList(ids: readonly string[], max = 5): string {
  if (ids.length <= max) return ids.join(", ");
  return `${ids.slice(0, max).join(", ")} and ${ids.length - max} more`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Reads an optional field that newer engines may add to an event, without widening its type. */
export function optionalNumber(obj: object, key: string): number | undefined {
  const v = (obj as Record<string, unknown>)[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
