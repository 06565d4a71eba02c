import { constants } from "node:os";
import { resolve } from "node:path";
import type { EngineEvent } from "../engine/events.js";
import type { StepResult } from "../engine/result.js";
import { UserError } from "../engine/user-error.js";
import { digestBytes, digestFile } from "../graph/digest.js";
import { projectPath } from "../graph/eval.js";
import type { Graph, Step, ValueExpr } from "../graph/ir.js";
import type { CacheSettings } from "./cache.js";
import { closeExecutors, localExecutors } from "./executors.js";

/** One command under the cache: what `tributary exec` runs. */
export interface ExecRequest {
  /** The project root: the cache and every path are relative to it. */
  root: string;
  /** The command: program and arguments, run without a shell. */
  argv: string[];
  /** Files the command reads, relative to the root. Their contents are in the key. */
  inputs?: string[];
  /** Files the command writes, relative to the root: stored, and restored on a hit. */
  outputs?: string[];
  cache: CacheSettings | false;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** The command's output as it is written (on a hit: nothing, or the stored stdout of a command without outputs). */
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
  /** A problem that does not fail the command (an unreachable remote cache, say). */
  onWarning?: (message: string) => void;
}

export interface ExecResult {
  /** The command's own exit code: 0 on a hit; 128 + n when a signal killed it; 127 when it could not start. */
  exitCode: number;
  /** Restored from the cache: the command did not run. */
  cached: boolean;
  step: StepResult;
}

/** Exit code of a command that could not be started, as a shell gives it. */
const NOT_STARTED = 127;

/**
 * Runs one command as a flow step would run it: same key, same store, same restore. The step is
 * `exec(argv…)` with every argument that names a declared input written as `file(path)` and every one
 * that names a declared output as `output(path)`, so that `tributary exec --in a.c --out a.o -- cc -c a.c
 * -o a.o` and the flow step `exec("cc", "-c", file("a.c"), "-o", output("a.o"))` share one cache entry.
 * Inputs that are not on the command line (headers, say) have no flow equivalent; their contents are
 * keyed through the step's code version.
 */
export async function execCached(request: ExecRequest): Promise<ExecResult> {
  const root = resolve(request.root);
  const inputs = (request.inputs ?? []).map((p) => insideRoot(root, p, "--in"));
  const outputs = (request.outputs ?? []).map((p) => insideRoot(root, p, "--out"));
  if (request.argv.length === 0) throw new UserError("tributary exec needs a command after --");
  for (const o of outputs) {
    if (inputs.includes(o)) throw new UserError(`${o} is both an input (--in) and an output (--out)`);
  }
  const step = await execStep(root, request.argv, inputs, outputs);
  const graph: Graph = { steps: [step], outputs: [step.id] };
  const env = request.env ?? process.env;
  const warn = request.onWarning ?? (() => {});
  const cache =
    request.cache === false
      ? undefined
      : await (await import("./cache.js")).openProjectCache(root, request.cache, warn, env);
  const executors = localExecutors();
  const { runGraph } = await import("../engine/run.js");
  let result;
  try {
    result = await runGraph(graph, {
      executors,
      concurrency: 1,
      root,
      env,
      cache: cache?.stepCache,
      signal: request.signal,
      liveOutput: request.onOutput !== undefined,
      onEvent: (e: EngineEvent) => {
        if (e.type === "step-output") request.onOutput?.(e.stream, e.chunk);
        else if (e.type === "warning") warn(e.message);
      },
    });
  } finally {
    await Promise.allSettled([closeExecutors(executors), cache?.close(true)]);
  }
  const r = result.steps[0]!;
  // A command without declared outputs is kept for its stdout: a hit prints it again.
  // (Its value is the stdout without its last newline, as a flow step's is.)
  if (r.cached && outputs.length === 0 && typeof r.value === "string" && r.value !== "") {
    request.onOutput?.("stdout", `${r.value}\n`);
  }
  return { exitCode: exitCodeOf(r), cached: r.cached === true, step: r };
}

/** The step of `execCached`: see there. */
async function execStep(root: string, argv: string[], inputs: string[], outputs: string[]): Promise<Step> {
  const onLine = new Set<string>();
  const args: ValueExpr[] = argv.map((arg, i) => {
    const rel = i === 0 ? undefined : asProjectPath(root, arg);
    if (rel !== undefined && outputs.includes(rel)) {
      onLine.add(rel);
      return { kind: "output", path: rel };
    }
    if (rel !== undefined && inputs.includes(rel)) {
      onLine.add(rel);
      return { kind: "file", path: { kind: "lit", value: rel } };
    }
    return { kind: "lit", value: arg };
  });
  // A step's outputs are the output() arguments of its command: an output it is not told to write
  // cannot be declared, as in a flow.
  const missingOutputs = outputs.filter((o) => !onLine.has(o));
  if (missingOutputs.length > 0) {
    throw new UserError(
      `--out ${missingOutputs.join(", ")}: not on the command line; an output is a file the command is told to write, as in a flow's output(): name it as an argument (-o ${missingOutputs[0]})`,
    );
  }
  const extra = inputs.filter((p) => !onLine.has(p)).sort();
  const step: Step = { id: "exec", module: "exec", action: { kind: "process" }, inputs: args, options: {} };
  if (extra.length > 0) {
    const parts: string[] = [];
    for (const p of extra) {
      try {
        parts.push(`${p}\0${await digestFile(resolve(root, p))}`);
      } catch {
        throw new UserError(`--in ${p}: no such file in ${root}`);
      }
    }
    step.options.version = `exec-inputs:${digestBytes(parts.join("\0"))}`;
  }
  return step;
}

/** A declared path as the project names it ("build/a.o"), or a UserError when it leaves the project. */
function insideRoot(root: string, path: string, flag: string): string {
  const rel = asProjectPath(root, path);
  if (rel === undefined) throw new UserError(`${flag} ${path}: outside the project directory ${root}`);
  return rel;
}

/** An argument as a project path ("build/a.o"), or undefined when it is an option or leaves the project. */
function asProjectPath(root: string, path: string): string | undefined {
  if (path === "" || path.startsWith("-")) return undefined;
  try {
    return projectPath(path, root, "");
  } catch {
    return undefined;
  }
}

function exitCodeOf(r: StepResult): number {
  if (r.status === "ok") return 0;
  const e = r.error;
  if (e?.kind === "exit" && e.exitCode !== undefined) return e.exitCode;
  if (e?.kind === "signal" && e.signal) {
    return 128 + (constants.signals[e.signal as keyof typeof constants.signals] ?? 0);
  }
  if (e?.kind === "spawn") return NOT_STARTED;
  return 1;
}
