/**
 * Runs one task on a worker: process steps with runProcess in the worker's checkout, function steps by
 * loading the module from the worker's checkout. Everything that comes back is plain data.
 */
import { lstat, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { AttemptContext } from "../../engine/attempt.js";
import type { Executor } from "../../engine/executor.js";
import { stoppedError, type Outcome, type StopReason } from "../../engine/outcome.js";
import type { StepError } from "../../engine/result.js";
import { digestFile } from "../../graph/digest.js";
import { isFileValue, type FileValue, type Step } from "../../graph/ir.js";
import { callableOf, loadModuleFile } from "../load-module.js";
import { moduleCodeDigest } from "./code-digest.js";
import { whyNotWireData, type TransferOutputs, type WireOutcome } from "./protocol.js";
import type { RemoteTask } from "./task.js";

const DEFAULT_STDOUT_LIMIT = 8 * 1024 * 1024;

export interface ExecuteContext {
  /** The worker's checkout of the project. */
  root: string;
  /** "host:pid", named in errors so a user knows which machine to look at. */
  identity: string;
  /** Aborted with `{ kind: "cancelled" | "timeout" }`. */
  signal: AbortSignal;
  /** The worker's environment; the task's declared env values are merged over it. */
  env: NodeJS.ProcessEnv;
  /** Added to every step process's environment last (the reaper's token). */
  stepEnv?: Record<string, string>;
  killGraceMs?: number;
  stdoutLimit?: number;
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
  modules: ModuleCache;
  /**
   * The worker's local executors (threads, processes, in-process functions): a step runs here exactly
   * as it would on the orchestrator, judged by the same classifier.
   */
  executors: readonly Executor[];
  /** Checks input files against the orchestrator's digests; undefined skips the check. */
  inputs?: InputVerifier;
  transferOutputs?: TransferOutputs;
}

export async function executeTask(task: RemoteTask, ctx: ExecuteContext): Promise<WireOutcome> {
  const worker = ctx.identity;
  const fail = (error: StepError, tail?: string): WireOutcome => ({ ok: false, error, tail, worker });
  const stopReason = (): StopReason =>
    (ctx.signal.reason as { kind?: string } | undefined)?.kind === "timeout"
      ? { kind: "timeout", afterMs: task.timeoutMs ?? 0 }
      : { kind: "cancelled" };
  if (ctx.signal.aborted) return fail(stoppedError(stopReason(), "before it started"));
  try {
    if (ctx.inputs) {
      const why = await ctx.inputs.check(task.args);
      if (why) return fail({ kind: "infra", message: `worker ${worker} ${why}` });
    }
    const step = await localStep(task, ctx);
    if ("error" in step) return fail(step.error);
    const executor = ctx.executors.find((e) => e.accepts(step.action));
    if (!executor)
      return fail({ kind: "infra", message: `worker ${worker} cannot run ${step.action.kind} steps` });
    // A stopped attempt whose work cannot be stopped (an in-process promise) settles at once.
    let abandon: (outcome: Outcome) => void = () => {};
    const abandoned = new Promise<Outcome>((resolve) => (abandon = resolve));
    const attempt = new AttemptContext(step, task.attempt, {
      root: ctx.root,
      // One object for every task: the process executor's job server serves one environment and any
      // other sends the step to a direct spawn. What differs per task is in the action's env (localStep).
      env: ctx.env,
      killGraceMs: task.killGraceMs ?? ctx.killGraceMs ?? 2000,
      // The orchestrator's limit: the same step keeps the same stdout wherever it runs.
      stdoutLimit: task.stdoutLimit ?? ctx.stdoutLimit ?? DEFAULT_STDOUT_LIMIT,
      digest: digestFile,
      warn: () => {},
      abandoned: (_attempt, outcome) => abandon(outcome),
    });
    attempt.args = task.args;
    attempt.outputs = task.outputs;
    attempt.onOutput = ctx.onOutput;
    const onAbort = () => attempt.stop(stopReason());
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    // The orchestrator times the step out too; this is the backstop should its message be lost.
    if (task.timeoutMs !== undefined) attempt.armTimeout(task.timeoutMs);
    let outcome: Outcome;
    try {
      attempt.command = executor.commandOf?.(attempt);
      outcome = await Promise.race([executor.run(attempt), abandoned]);
    } finally {
      attempt.done();
      ctx.signal.removeEventListener("abort", onAbort);
    }
    return await wireOutcome(task, outcome, ctx);
  } catch (err) {
    return fail({
      kind: (err as { name?: string }).name === "InputError" ? "input" : "infra",
      message: `worker ${worker} failed: ${(err as Error)?.message ?? String(err)}`,
    });
  }
}

/** The task as a step of this checkout: a function's module is loaded (and its code checked) here. */
async function localStep(task: RemoteTask, ctx: ExecuteContext): Promise<Step | { error: StepError }> {
  const worker = ctx.identity;
  const base = { id: task.stepId, module: task.module, inputs: [], options: { timeoutMs: task.timeoutMs } };
  const action = task.action;
  if (action.kind === "process") {
    const env = { ...task.env, ...action.env, ...ctx.stepEnv };
    return { ...base, action: Object.keys(env).length > 0 ? { ...action, env } : action };
  }
  const ref = action.ref;
  if (!ref) return { error: { kind: "infra", message: `step ${task.stepId} has no module file to load` } };
  if (isAbsolute(ref.file) || ref.file.startsWith("file:")) {
    return {
      error: { kind: "infra", message: `module file ${ref.file} must be relative to the project root` },
    };
  }
  const abs = resolve(ctx.root, ref.file);
  const thread = action.thread === true;
  let mod: LoadedModule;
  try {
    mod = await ctx.modules.get(abs, !thread);
  } catch (err) {
    ctx.modules.forget(abs);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "it does not exist" : (err as Error).message;
    return {
      error: {
        kind: "infra",
        message: `worker ${worker} cannot load ${ref.file} from its checkout ${ctx.root}: ${why}`,
      },
    };
  }
  if (task.codeDigest !== undefined && mod.digest !== task.codeDigest) {
    return {
      error: { kind: "infra", message: await codeMismatch(task.codeDigest, mod, ref.file, abs, ctx) },
    };
  }
  if (thread)
    return {
      ...base,
      action: { kind: "function", thread: true, ref: { file: abs, exportName: ref.exportName } },
    };
  const fn = callableOf(mod.exports![ref.exportName]);
  if (!fn) {
    return {
      error: {
        kind: "infra",
        message: `${ref.file} on worker ${worker} has no function export "${ref.exportName}"`,
      },
    };
  }
  return { ...base, action: { kind: "function", fn } };
}

/** The outcome as it travels back: errors say where they happened, output files go to the remote cache. */
async function wireOutcome(task: RemoteTask, outcome: Outcome, ctx: ExecuteContext): Promise<WireOutcome> {
  const worker = ctx.identity;
  if (!outcome.ok) {
    const error = { ...outcome.error };
    if (error.kind !== "cancelled" && error.kind !== "timeout") error.message += ` (on worker ${worker})`;
    return { ok: false, error, tail: outcome.tail, worker };
  }
  const value = outcome.value;
  if (task.action.kind !== "process" || task.outputs.length === 0) {
    const why = value === undefined ? undefined : whyNotWireData(value);
    if (why) {
      return {
        ok: false,
        error: {
          kind: "value",
          message: `its value cannot travel back from worker ${worker}: ${why}; return plain data (JSON)`,
        },
        worker,
      };
    }
    return { ok: true, value, worker };
  }
  const files = (Array.isArray(value) ? value : [value]) as FileValue[];
  const modes = await Promise.all(
    files.map(async (f) => (await stat(resolve(ctx.root, f.$file))).mode & 0o777),
  );
  if (ctx.transferOutputs) {
    try {
      await ctx.transferOutputs(
        files.map((f, i) => ({ ...f, mode: modes[i] })),
        { root: ctx.root },
      );
    } catch (err) {
      return {
        ok: false,
        error: {
          kind: "infra",
          message: `worker ${worker} could not upload the outputs: ${(err as Error).message}`,
        },
        tail: outcome.tail,
        worker,
      };
    }
  }
  return { ok: true, value, worker, modes };
}

async function codeMismatch(
  expected: string,
  mod: LoadedModule,
  file: string,
  abs: string,
  ctx: ExecuteContext,
): Promise<string> {
  const short = (d: string) => `${d.slice(0, 12)}…`;
  const head = `worker ${ctx.identity} has different code for ${file} (digest ${short(mod.digest)} vs ${short(expected)} on the orchestrator)`;
  if (!mod.exports) return `${head}: update its checkout`;
  // The module is loaded once; the checkout may have been updated since.
  const onDisk = await moduleCodeDigest(ctx.root, abs).catch(() => undefined);
  if (onDisk === expected) return `${head}: restart it, its checkout was updated after it loaded the module`;
  return `${head}: update its checkout`;
}

export interface LoadedModule {
  digest: string;
  /** Undefined for modules that only run in worker threads (each thread loads its own copy). */
  exports?: Record<string, unknown>;
}

/** Modules loaded from the worker's checkout, each with the digest of the code it was loaded from. */
export class ModuleCache {
  private readonly loaded = new Map<string, Promise<LoadedModule>>();

  constructor(private readonly root: string) {}

  get(abs: string, withExports: boolean): Promise<LoadedModule> {
    const key = `${withExports ? "main" : "thread"}:${abs}`;
    let p = this.loaded.get(key);
    if (!p) {
      p = (async () => {
        const digest = await moduleCodeDigest(this.root, abs);
        return withExports ? { digest, exports: await loadModuleFile(abs) } : { digest };
      })();
      this.loaded.set(key, p);
    }
    return p;
  }

  forget(abs: string): void {
    this.loaded.delete(`main:${abs}`);
    this.loaded.delete(`thread:${abs}`);
  }
}

/**
 * Checks that the input files a step names have, in this worker's checkout, the content the orchestrator
 * hashed: a worker that does not share the project directory must not compute a result from other inputs.
 * Digests are remembered by (inode, size, mtime, ctime), but never for a file modified within the last
 * two seconds of hashing it (git's "racy clean" rule), so a change is never hidden.
 */
export class InputVerifier {
  private readonly known = new Map<string, { stamp: string; digest: string }>();

  constructor(private readonly root: string) {}

  /** Undefined when every input file matches; else why not (completing "worker h:p ..."). */
  async check(args: unknown[]): Promise<string | undefined> {
    const files: FileValue[] = [];
    collectFiles(args, files, 0);
    for (const f of files) {
      const abs = resolve(this.root, f.$file);
      const rel = relative(this.root, abs);
      let digest: string;
      try {
        digest = await this.digest(abs);
      } catch {
        const where =
          rel.startsWith("..") || isAbsolute(rel) ? abs : `${f.$file} under its root ${this.root}`;
        return `has no input file ${where}: share the project directory with the orchestrator (or use the remote cache)`;
      }
      if (digest !== f.digest) {
        return `sees different content for the input ${f.$file} (digest ${digest.slice(0, 12)}… vs ${f.digest.slice(0, 12)}… on the orchestrator): share the project directory with the orchestrator (or use the remote cache)`;
      }
    }
    return undefined;
  }

  private async digest(abs: string): Promise<string> {
    const st = await lstat(abs, { bigint: true });
    const stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = this.known.get(abs);
    if (hit && hit.stamp === stamp) return hit.digest;
    const hashedAt = BigInt(Date.now()) * 1_000_000n;
    const digest = await digestFile(abs);
    const changedNs = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (hashedAt - changedNs > 2_000_000_000n) this.known.set(abs, { stamp, digest });
    return digest;
  }
}

function collectFiles(v: unknown, out: FileValue[], depth: number): void {
  if (depth > 50 || v === null || typeof v !== "object") return;
  if (isFileValue(v) && typeof (v as FileValue).digest === "string") {
    out.push(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectFiles(x, out, depth + 1);
  else for (const k in v) collectFiles((v as Record<string, unknown>)[k], out, depth + 1);
}
