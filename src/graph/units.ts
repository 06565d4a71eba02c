import type { Rate } from "./ir.js";

/** Milliseconds per duration unit. Prototype-less: a unit the user wrote (`5constructor`) is looked up here. */
export const DURATION_UNITS: Readonly<Record<string, number>> = Object.assign(Object.create(null), {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
});

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

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Bytes from a size: `500MB`, `2GB`, `1.5 GiB`, `4096`. SI suffixes are powers of 1000 (GB = 10⁹, as
 * disks are sold), IEC suffixes powers of 1024 (GiB = 2³⁰); case does not matter.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new RangeError(`"${text}" is not a size; write it like 500MB, 2GB or 1.5GiB`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** `1.2 GB`, `340 kB`, `12 B` (decimal units): cache sizes, skipped output. */
export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
