import type { Rate } from "./ir.js";

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/** `150ms`, `2s`, `5min`, `1.5h` -> milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|sec|min|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

/** `20/s`, `100/1min`, `5/250ms` -> a token bucket rate; undefined when malformed or not positive. */
export function parseRate(text: string): Rate | undefined {
  const m = /^(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|min|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const tokens = Number(m[1]);
  const perMs = Number(m[2] ?? "1") * DURATION_UNITS[m[3]!]!;
  if (!(tokens > 0) || !(perMs > 0)) return undefined;
  return { tokens, perMs };
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, "0")}s`;
}
