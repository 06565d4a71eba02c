import { InputError, describe } from "../graph/eval.js";
import type { StepError } from "./result.js";

/**
 * The one outcome classifier. Every executor (in-process, worker thread, child process in either spawn
 * mode, remote worker) reports what happened as raw facts, and the functions here turn those facts into
 * the outcome the engine, the summary and the retry policy see. So the same command is judged the same
 * way wherever it runs: an exit status is an exit, a signal is a signal, a missing program is named.
 */

/** What an attempt ended with. `tail` is the last output, for failure reports. */
export type Outcome =
  { ok: true; value: unknown; tail?: string } | { ok: false; error: StepError; tail?: string };

/**
 * Why the engine stopped an attempt: the reason an attempt's AbortSignal is aborted with. A timeout
 * carries its limit so that every executor words it the same way.
 */
export type StopReason = { kind: "timeout"; afterMs: number } | { kind: "cancelled" };

/** The stop reason behind an aborted signal (anything else counts as a cancel). */
export function stopReasonOf(signal: AbortSignal): StopReason {
  const r = signal.reason as Partial<StopReason> | undefined;
  return r?.kind === "timeout"
    ? { kind: "timeout", afterMs: (r as { afterMs: number }).afterMs }
    : { kind: "cancelled" };
}

/** The error of an attempt the engine stopped. */
export function stoppedError(reason: StopReason, when = "while running"): StepError {
  return reason.kind === "timeout"
    ? { kind: "timeout", message: `timed out after ${reason.afterMs}ms` }
    : { kind: "cancelled", message: `cancelled ${when}` };
}

/** How a process attempt ended, as observed by whichever spawner ran it. */
export interface ProcessEnd {
  /** Set when the program never started: the errno code (ENOENT, EACCES...) and what failed. */
  spawnError?: { code: string; program: string; cwd?: string; missingCwd?: boolean };
  /** The exit status, when it exited. */
  exitCode: number | null;
  /** The signal that killed it, when one did (never inferred from an exit status). */
  signal: string | null;
  /** Why we stopped it, if we did. */
  stopped?: StopReason;
  /** Its stdout, when kept as the value (empty otherwise). */
  stdout: string;
  /** Its stdout went over the kept limit. */
  stdoutOverflow: boolean;
  stdoutLimit: number;
  tail: string;
  /** The step runs a /bin/sh command line (status 126/127 then come from the shell). */
  shell: boolean;
  /** The spawner lost track of it (its helper process died): nothing is known of how it ended. */
  lost?: string;
}

/** The outcome of a process attempt. A step that exits 137 exited; only a real signal is a signal. */
export function processOutcome(end: ProcessEnd): Outcome {
  const tail = end.tail;
  const fail = (error: StepError): Outcome => ({ ok: false, error, tail });
  if (end.spawnError) return fail(spawnError(end.spawnError));
  if (end.lost !== undefined) return fail({ kind: "infra", message: end.lost });
  if (end.stopped) return fail(stoppedError(end.stopped));
  if (end.signal !== null) {
    return fail({ kind: "signal", message: `killed by ${end.signal}`, signal: end.signal });
  }
  const code = end.exitCode ?? 0;
  if (code !== 0) {
    const hint = exitHint(code, end.shell);
    const error: StepError = { kind: "exit", message: `exited with code ${code}${hint}`, exitCode: code };
    // The shell's own "not found" / "cannot execute": another attempt would fail the same way.
    if (hint) error.permanent = true;
    return fail(error);
  }
  if (end.stdoutOverflow) {
    return fail({
      kind: "value",
      message: `wrote more than ${end.stdoutLimit} bytes to stdout, which would be its value; write large data to an output() file instead`,
    });
  }
  return { ok: true, value: end.stdout.replace(/\n+$/, ""), tail };
}

/** What a shell's conventional statuses mean (a program may use them too, so only as a hint). */
function exitHint(code: number, shell: boolean): string {
  if (!shell) return "";
  if (code === 127) return " (the shell could not find a command)";
  if (code === 126) return " (the shell could not execute a command)";
  return "";
}

function spawnError(e: NonNullable<ProcessEnd["spawnError"]>): StepError {
  if (e.missingCwd) return { kind: "spawn", message: `working directory not found: ${e.cwd}` };
  if (e.code === "ENOENT") return { kind: "spawn", message: `command not found: ${e.program}` };
  if (e.code === "EACCES")
    return { kind: "spawn", message: `permission denied: ${e.program} is not executable` };
  if (e.code === "ENOEXEC")
    return { kind: "spawn", message: `${e.program} is not a program this system can run` };
  return { kind: "spawn", message: `cannot start ${e.program}: ${e.code}` };
}

/** The error of a function that threw (or rejected with) anything. */
export function thrownError(err: unknown): StepError {
  if (err instanceof Error) {
    // Errors may say what kind of failure they are (a module's schema check says "value"), which
    // decides whether a retry could help.
    const kind = (err as { kind?: unknown }).kind;
    const known = kind === "value" || kind === "input" || kind === "infra" ? kind : "threw";
    return { kind: known, message: err.message || err.name, stack: err.stack };
  }
  let text: string;
  try {
    text = JSON.stringify(err) ?? String(err);
  } catch {
    text = describe(err);
  }
  return { kind: "threw", message: `threw a non-Error value: ${text}` };
}

/**
 * Whether another attempt could succeed. A missing input or program, a value that cannot be passed
 * on, and a shell that could not find or run a command fail the same way every time.
 */
export function isRetryable(error: StepError): boolean {
  switch (error.kind) {
    case "threw":
    case "signal":
    case "timeout":
    case "infra":
      return true;
    case "exit":
      return error.permanent !== true;
    default:
      return false;
  }
}

/** An input that could not be computed (a missing file, a field that is not there). */
export function inputFailure(err: unknown): Outcome {
  if (err instanceof InputError) return { ok: false, error: { kind: "input", message: err.message } };
  return { ok: false, error: thrownError(err) };
}

/** An executor broke its promise never to throw: the step fails with what it said, as an infra failure. */
export function executorFailure(name: string, err: unknown): Outcome {
  return {
    ok: false,
    error: {
      kind: "infra",
      message: `the ${name} executor failed: ${(err as Error)?.message ?? String(err)}`,
    },
  };
}
