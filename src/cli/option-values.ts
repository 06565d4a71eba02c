import { parseSize } from "../graph/units.js";
import { CliError } from "./exit-codes.js";

/**
 * Checks of option values, apart from options.ts: the actions need these, and must not load commander
 * for them (a plain `run` never does; see quick-run.ts).
 */

export function parseJobs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CliError(
      `-j needs a whole number of at least 1, got "${value}" (use -j 1 to run one step at a time)`,
    );
  }
  return n;
}

/**
 * `--shuffle` alone draws a seed (printed, so the run can be repeated); `--shuffle=SEED` repeats one.
 * Seeds are whole numbers in [0, 2^32).
 */
export function parseShuffleSeed(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  // Math.random, not node:crypto: a seed needs no secrecy, and every run would pay for loading crypto.
  if (value === true) return Math.floor(Math.random() * 2 ** 32);
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n >= 2 ** 32) {
    throw new CliError(`--shuffle takes a seed, a whole number below 4294967296, got "${value}"`);
  }
  return n;
}

/** `--memory 8GB`: bytes, more than 0. */
export function parseMemory(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let bytes: number;
  try {
    bytes = parseSize(value);
  } catch {
    throw new CliError(`--memory needs a size, like 8GB or 512MiB, got "${value}"`);
  }
  if (!(bytes > 0)) throw new CliError(`--memory must be more than 0, got "${value}"`);
  return bytes;
}

/** Parses `--input k=v` pairs. */
export function parseInputs(pairs: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new CliError(`--input needs name=value, got "${p}"`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
