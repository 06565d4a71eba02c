import { main } from "./main.js";
import { exitWhenDrained } from "./streams.js";

/**
 * Runs a command line and exits once its output is written: the CLI's entry, as ES modules (bin.ts)
 * and bundled for the quick run's command lines (dist/cli/run.cjs, see scripts/bundle-cli.mjs).
 */
export async function start(argv: string[]): Promise<void> {
  exitWhenDrained(await main(argv));
}
