/** Exit codes of the `tributary` command (documented in the README). */
export const EXIT = {
  ok: 0,
  /** A step failed (or was blocked by one that failed). */
  stepFailed: 1,
  /** The flow file or the command line is invalid. */
  invalid: 2,
  /** Interrupted by SIGINT/SIGTERM: finished results were kept. */
  interrupted: 130,
} as const;

/** The exit code of a run that ended: interrupted, every step done, or one failed. */
export function runExitCode(result: { cancelled: boolean; ok: boolean }): number {
  if (result.cancelled) return EXIT.interrupted;
  return result.ok ? EXIT.ok : EXIT.stepFailed;
}

/** A user error the CLI reports without a stack trace, then exits with its `code`. */
export { UserError as CliError } from "../engine/user-error.js";
