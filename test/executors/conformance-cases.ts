/**
 * The conformance table: what every executor must do with the same step, written once per case. Process
 * cases run under every process configuration, function cases under every function configuration
 * (conformance.test.ts lists both).
 */
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import type { StepErrorKind, StepStatus } from "../../src/engine/result.js";
import type { StepAction, StepOptions } from "../../src/graph/ir.js";
import { eventually, processesMatching } from "../helpers/procs.js";

export interface CaseContext {
  /** The project root, shared by the orchestrator and the remote worker. */
  root: string;
  /** This case's own scratch directory (absolute), for counter and marker files. */
  dir: string;
  /** The same directory relative to the root, for `cwd`. */
  rel: string;
  /** A `sleep` duration no other process has, to find this case's processes in the process table. */
  marker: string;
}

export type ProcessAction = Extract<StepAction, { kind: "process" }>;

/** What one configuration must return for a case. */
export interface Expected {
  status: StepStatus;
  attempts: number;
  value?: unknown;
  /** The message as the step's own executor words it (a remote worker may append where it ran). */
  error?: { kind: StepErrorKind; message: string | RegExp; exitCode?: number; signal?: string };
  /** Text the failure's output tail must contain. */
  tail?: string[];
  /** Processes carrying this marker in their argv must be gone after the run. */
  gone?: string;
}

interface CaseBase {
  name: string;
  options?: StepOptions;
  /** Run options the case needs. */
  run?: (c: CaseContext) => { stdoutLimit?: number; env?: NodeJS.ProcessEnv };
  /** Runs beside the run; `cancel` aborts the run's signal. */
  during?: (c: CaseContext, cancel: () => void) => Promise<void>;
  expect: (c: CaseContext) => Expected;
  /** Anything else that must hold afterwards. */
  after?: (c: CaseContext) => void;
}

export interface ProcessCase extends CaseBase {
  step: (c: CaseContext) => { action: ProcessAction; argv: unknown[] };
}

export interface FunctionCase extends CaseBase {
  /** An export of fixtures/conformance-steps.ts, and its arguments. */
  step: (c: CaseContext) => { exportName: string; args: unknown[] };
}

const EXEC: ProcessAction = { kind: "process" };
const SH: ProcessAction = { kind: "process", shell: true };
/** Retries without waiting long: the count is what is compared. */
const RETRY_TWICE: StepOptions = { retries: 2, backoff: { initialMs: 10, factor: 1, maxMs: 10, jitter: 0 } };
const STDOUT_LIMIT = 1000;

const shell = (script: string, ...args: string[]) => ["sh", "-c", script, "sh", ...args];

/** Resolves once `check` holds; fails the case (instead of cancelling too early) if it never does. */
async function until(check: () => boolean, what: string): Promise<void> {
  if (!(await eventually(check))) throw new Error(`${what} never happened`);
}

export const PROCESS_CASES: ProcessCase[] = [
  {
    name: "stdout is the value, trailing newlines trimmed",
    step: () => ({ action: EXEC, argv: ["printf", "  first line\\nsecond line  \\n\\n"] }),
    expect: () => ({ status: "ok", attempts: 1, value: "  first line\nsecond line  " }),
  },
  {
    name: "exit 1",
    step: () => ({ action: EXEC, argv: shell("exit 1") }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "exit", message: "exited with code 1", exitCode: 1 },
    }),
  },
  {
    name: "exit 2",
    step: () => ({ action: EXEC, argv: shell("exit 2") }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "exit", message: "exited with code 2", exitCode: 2 },
    }),
  },
  {
    name: "exit 127 from sh is permanent (not retried)",
    step: () => ({ action: SH, argv: ["no_such_command_for_conformance"] }),
    options: RETRY_TWICE,
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: {
        kind: "exit",
        message: "exited with code 127 (the shell could not find a command)",
        exitCode: 127,
      },
      tail: ["no_such_command_for_conformance"],
    }),
  },
  {
    name: "exec of a missing program",
    step: () => ({ action: EXEC, argv: ["no-such-program-for-conformance", "arg"] }),
    options: RETRY_TWICE,
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "spawn", message: "command not found: no-such-program-for-conformance" },
    }),
  },
  {
    name: "exit 137 is an exit, not a signal",
    step: () => ({ action: EXEC, argv: shell("exit 137") }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "exit", message: "exited with code 137", exitCode: 137 },
    }),
  },
  ...(["SIGKILL", "SIGTERM", "SIGSEGV"] as const).map((signal): ProcessCase => ({
    name: `death by ${signal}`,
    step: () => ({ action: EXEC, argv: shell(`echo before the ${signal}; kill -${signal.slice(3)} $$`) }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "signal", message: `killed by ${signal}`, signal },
      tail: [`before the ${signal}`],
    }),
  })),
  {
    // The grandchild ignores SIGTERM: only the SIGKILL of the whole group after the leader died stops it.
    name: "timeout kills a grandchild that ignores SIGTERM",
    step: (c) => ({
      action: EXEC,
      argv: shell(`(trap "" TERM; : > "$1"; exec sleep "$2") & wait`, join(c.dir, "started"), c.marker),
    }),
    options: { timeoutMs: 2000 },
    expect: (c) => ({
      status: "failed",
      attempts: 1,
      error: { kind: "timeout", message: "timed out after 2000ms" },
      gone: c.marker,
    }),
    // Else the case proves nothing: the timeout came before the grandchild existed.
    after: (c) => expectFile(join(c.dir, "started")),
  },
  {
    name: "stdout up to the limit is the value",
    step: () => ({ action: EXEC, argv: shell(`head -c ${STDOUT_LIMIT} /dev/zero | tr "\\0" x`) }),
    run: () => ({ stdoutLimit: STDOUT_LIMIT }),
    expect: () => ({ status: "ok", attempts: 1, value: "x".repeat(STDOUT_LIMIT) }),
  },
  {
    name: "stdout over the limit fails, naming it",
    step: () => ({ action: EXEC, argv: shell(`head -c ${STDOUT_LIMIT + 1} /dev/zero | tr "\\0" x`) }),
    run: () => ({ stdoutLimit: STDOUT_LIMIT }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: {
        kind: "value",
        message: `wrote more than ${STDOUT_LIMIT} bytes to stdout, which would be its value; write large data to an output() file instead`,
      },
    }),
  },
  {
    name: "stdout and stderr in the failure's tail",
    step: () => ({ action: EXEC, argv: shell("echo said on stdout; echo said on stderr >&2; exit 3") }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "exit", message: "exited with code 3", exitCode: 3 },
      tail: ["said on stdout", "said on stderr"],
    }),
  },
  {
    // The job server sends a small stream in its end message, one character per byte: UTF-8 survives.
    name: "a value in UTF-8, and a failure's tail of raw bytes",
    step: () => ({
      action: EXEC,
      argv: shell(
        "printf 'h\\303\\251llo \\342\\234\\223 \\346\\227\\245'; printf '\\377\\376 raw tail' >&2; exit 2",
      ),
    }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "exit", message: "exited with code 2", exitCode: 2 },
      tail: ["héllo ✓ 日", "raw tail"],
    }),
  },
  {
    // Past what the job server keeps in memory (64 KiB): the value goes through its file.
    name: "a value of 200,000 bytes",
    step: () => ({ action: EXEC, argv: shell("head -c 200000 /dev/zero | tr '\\0' x") }),
    expect: () => ({ status: "ok", attempts: 1, value: "x".repeat(200000) }),
  },
  {
    name: "declared env var and action env reach the process",
    step: () => ({
      action: { kind: "process", env: { CONFORMANCE_ACTION_VAR: "from the action" } },
      argv: shell('printf "%s|%s" "$CONFORMANCE_DECLARED_VAR" "$CONFORMANCE_ACTION_VAR"'),
    }),
    options: { env: ["CONFORMANCE_DECLARED_VAR"] },
    run: () => ({ env: { ...process.env, CONFORMANCE_DECLARED_VAR: "from the run" } }),
    expect: () => ({ status: "ok", attempts: 1, value: "from the run|from the action" }),
  },
  {
    name: "action cwd is the working directory",
    step: (c) => {
      mkdirSync(join(c.dir, "sub dir"), { recursive: true });
      return { action: { kind: "process", cwd: join(c.rel, "sub dir") }, argv: ["pwd", "-P"] };
    },
    expect: (c) => ({ status: "ok", attempts: 1, value: realpathSync(join(c.dir, "sub dir")) }),
  },
  {
    name: "retries are counted the same (fails twice, then succeeds)",
    step: (c) => ({
      action: EXEC,
      argv: shell(
        'n=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 )); echo $n > "$1"; [ $n -ge 3 ] || exit 1; echo "succeeded on attempt $n"',
        join(c.dir, "counter"),
      ),
    }),
    options: RETRY_TWICE,
    expect: () => ({ status: "ok", attempts: 3, value: "succeeded on attempt 3" }),
  },
  {
    name: "cancel mid-run stops the process",
    step: (c) => ({ action: EXEC, argv: ["sleep", c.marker] }),
    during: async (c, cancel) => {
      await until(() => processesMatching(c.marker).length > 0, "the process starting");
      cancel();
    },
    expect: (c) => ({
      status: "cancelled",
      attempts: 1,
      error: { kind: "cancelled", message: "cancelled while running" },
      gone: c.marker,
    }),
  },
  {
    name: "missing working directory",
    step: (c) => ({ action: { kind: "process", cwd: join(c.rel, "missing") }, argv: shell("true") }),
    options: RETRY_TWICE,
    expect: (c) => ({
      status: "failed",
      attempts: 1,
      error: { kind: "spawn", message: `working directory not found: ${resolve(c.dir, "missing")}` },
    }),
  },
];

export const FUNCTION_CASES: FunctionCase[] = [
  {
    name: "returns a value",
    step: () => ({ exportName: "structured", args: [] }),
    expect: () => ({
      status: "ok",
      attempts: 1,
      value: { n: 5, text: "five", list: [1, "two", null, false], nested: { ok: true } },
    }),
  },
  {
    name: "throws an Error",
    step: () => ({ exportName: "fails", args: ["as asked"] }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "threw", message: "failed on purpose: as asked" },
    }),
  },
  {
    name: "throws a non-Error",
    step: () => ({ exportName: "throwsPlainObject", args: [] }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "threw", message: 'threw a non-Error value: {"code":42,"why":"not an Error"}' },
    }),
  },
  {
    name: "timeout",
    step: (c) => ({ exportName: "waitsUntilStopped", args: [join(c.dir, "started")] }),
    options: { timeoutMs: 500 },
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: { kind: "timeout", message: "timed out after 500ms" },
    }),
  },
  {
    name: "cancel mid-run",
    step: (c) => ({ exportName: "waitsUntilStopped", args: [join(c.dir, "started")] }),
    during: async (c, cancel) => {
      await until(() => existsSync(join(c.dir, "started")), "the function starting");
      cancel();
    },
    expect: () => ({
      status: "cancelled",
      attempts: 1,
      error: { kind: "cancelled", message: "cancelled while running" },
    }),
  },
  {
    name: "retries are counted the same (fails twice, then succeeds)",
    step: (c) => ({ exportName: "failsThenSucceeds", args: [join(c.dir, "counter"), 2] }),
    options: RETRY_TWICE,
    expect: () => ({ status: "ok", attempts: 3, value: "succeeded on attempt 3" }),
  },
  {
    name: "a value that cannot be passed on",
    step: () => ({ exportName: "returnsAFunction", args: [] }),
    expect: () => ({
      status: "failed",
      attempts: 1,
      error: {
        kind: "value",
        message:
          /^its value cannot travel back from (a worker thread|worker \S+): value is a function; return plain data \(JSON\)$/,
      },
    }),
  },
];

function expectFile(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} was never written`);
}
