import { accessSync, constants, existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { Attempt } from "../../engine/executor.js";
import type { ProcessEnd } from "../../engine/outcome.js";
import { toArgv } from "../../graph/eval.js";
import type { StepAction } from "../../graph/ir.js";
import { threadEnv } from "./thread-env.js";

type ProcessAction = Extract<StepAction, { kind: "process" }>;

/** One process to start, the same for every spawner. */
export interface ProcessSpec {
  /** The program as found on PATH (an absolute or cwd-relative path). */
  file: string;
  /** argv[0] is the name the step gave; the rest are its arguments. */
  argv: string[];
  shell: boolean;
  cwd: string;
  /** The run's environment, shared by its steps: never copied for one (see {@link envOf}). */
  baseEnv: NodeJS.ProcessEnv;
  /** The step's own variables, on top of `baseEnv`: its `env:`, thread counts, an owner, a jobserver. */
  extraEnv: Record<string, string>;
  /** Keep stdout as the step's value, up to this many bytes (0: do not keep it). */
  keepStdout: number;
  killGraceMs: number;
  /** Fds the process gets as its fds 3, 4, ... (a jobserver's pipe); only the direct spawner passes them. */
  fds?: number[];
}

/** The command line an attempt runs, as shown to users: argv, or `sh -c LINE`. */
export function commandLine(attempt: Attempt): string[] {
  const action = attempt.step.action as ProcessAction;
  return action.shell ? ["sh", "-c", attempt.args.map(String).join(" ")] : toArgv(attempt.args as unknown[]);
}

/**
 * The spec of an attempt, or the way it cannot start. The program is looked up here, once, as execvp
 * would (an empty PATH entry is the working directory), so that every spawner runs the same file and a
 * missing program is reported the same way, naming it.
 */
export function processSpec(attempt: Attempt): { spec: ProcessSpec } | { end: ProcessEnd } {
  const action = attempt.step.action as ProcessAction;
  const argv = action.shell
    ? ["/bin/sh", "-c", attempt.command?.[2] ?? attempt.args.map(String).join(" ")]
    : ((attempt.command as string[] | undefined) ?? toArgv(attempt.args as unknown[]));
  const cwd = action.cwd ? resolve(attempt.root, action.cwd) : attempt.root;
  // The step's own variables, then the thread counts its slots allow (sent with the job, as the job
  // server serves one environment).
  const extraEnv = { ...threadEnv(attempt.cpus, attempt.env, action.env), ...action.env };
  const keepStdout = attempt.outputs.length === 0 ? attempt.stdoutLimit : 0;
  const base = { exitCode: null, signal: null, stdout: "", stdoutOverflow: false, stdoutLimit: keepStdout };
  const name = argv[0] ?? "";
  const file = findProgram(name, extraEnv.PATH ?? attempt.env.PATH, cwd);
  if (file === undefined) {
    return {
      end: { ...base, tail: "", shell: action.shell === true, spawnError: spawnFailure("ENOENT", name, cwd) },
    };
  }
  return {
    spec: {
      file,
      argv,
      shell: action.shell === true,
      cwd,
      baseEnv: attempt.env,
      extraEnv,
      keepStdout,
      killGraceMs: attempt.killGraceMs,
    },
  };
}

/**
 * The whole environment of the process: built only by a spawner that needs it (Node's spawn), since a
 * copy of the run's environment per step costs more than starting the step through the job server.
 */
export function envOf(spec: ProcessSpec): NodeJS.ProcessEnv {
  return { ...spec.baseEnv, ...spec.extraEnv };
}

/** A failure to start, with whether it was the working directory that was missing. */
export function spawnFailure(
  code: string,
  program: string,
  cwd: string,
): NonNullable<ProcessEnd["spawnError"]> {
  return { code, program, cwd, missingCwd: code === "ENOENT" && !existsSync(cwd) };
}

const found = new Map<string, string>();

function findProgram(name: string, path: string | undefined, cwd: string): string | undefined {
  if (name === "") return undefined;
  if (name.includes("/")) return name;
  const dirs = path ?? "/usr/local/bin:/usr/bin:/bin";
  const key = `${dirs}\0${name}`;
  const known = found.get(key);
  if (known !== undefined) return known;
  for (const dir of dirs.split(":")) {
    const candidate = resolve(cwd, dir === "" ? "." : dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    // Relative PATH entries depend on the working directory: not remembered.
    if (isAbsolute(dir)) found.set(key, candidate);
    return candidate;
  }
  return undefined;
}
