import { CliError } from "./exit-codes.js";

/**
 * Checks of option values, apart from options.ts: the actions need these, and must not load commander
 * for them (a plain `run` never does; see run-args.ts).
 */

export function parseJobs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(
      `-j needs a whole number of at least 1, got "${value}" (use -j 1 to run one step at a time)`,
    );
  }
  return n;
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
