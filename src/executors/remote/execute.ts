/**
 * Runs one task on a worker: process steps with runProcess in the worker's checkout, function steps by
 * loading the module from the worker's checkout. Everything that comes back is plain data.
 */
import { lstat, mkdir, stat } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { digestFile } from "../../cache/digest.js";
import type { RemoteTask } from "../../engine/remote-port.js";
import type { StepError } from "../../engine/result.js";
import { InputError, describe, toArgv } from "../../engine/values.js";
import { isFileValue, type FileValue } from "../../graph/ir.js";
import { runProcess } from "../child-process.js";
import { callableOf, loadModuleFile } from "../load-module.js";
import type { ThreadPool } from "../worker-thread.js";
import { moduleCodeDigest } from "./code-digest.js";
import { whyNotWireData, type TransferOutputs, type WireOutcome } from "./protocol.js";

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
  threads: () => ThreadPool;
  /** Checks input files against the orchestrator's digests; undefined skips the check. */
  inputs?: InputVerifier;
  transferOutputs?: TransferOutputs;
}

export async function executeTask(task: RemoteTask, ctx: ExecuteContext): Promise<WireOutcome> {
  const worker = ctx.identity;
  const fail = (error: StepError, tail?: string): WireOutcome => ({ ok: false, error, tail, worker });
  if (ctx.signal.aborted) return fail(abortError(ctx.signal.reason, "before it started"));
  try {
    if (ctx.inputs) {
      const why = await ctx.inputs.check(task.args);
      if (why) return fail({ kind: "infra", message: `worker ${worker} ${why}` });
    }
    const action = task.action;
    if (action.kind === "process") return await runProcessTask(task, action, ctx);
    if (!action.ref)
      return fail({ kind: "infra", message: `step ${task.stepId} has no module file to load` });
    return await runFunctionTask(task, action.ref, action.thread === true, ctx);
  } catch (err) {
    if (err instanceof InputError) return fail({ kind: "input", message: err.message });
    return fail({
      kind: "infra",
      message: `worker ${worker} failed: ${(err as Error)?.message ?? String(err)}`,
    });
  }
}

async function runProcessTask(
  task: RemoteTask,
  action: Extract<RemoteTask["action"], { kind: "process" }>,
  ctx: ExecuteContext,
): Promise<WireOutcome> {
  const worker = ctx.identity;
  const argv = action.shell ? [task.args.map(String).join(" ")] : toArgv(task.args);
  const outputs = task.outputs;
  await Promise.all(outputs.map((o) => mkdir(dirname(resolve(ctx.root, o)), { recursive: true })));
  const r = await withTimeout(task, ctx, (signal) =>
    runProcess({
      argv,
      shell: action.shell,
      cwd: action.cwd ? resolve(ctx.root, action.cwd) : ctx.root,
      env: { ...ctx.env, ...task.env, ...action.env, ...ctx.stepEnv },
      signal,
      killGraceMs: ctx.killGraceMs,
      keepStdout: outputs.length === 0 ? (ctx.stdoutLimit ?? DEFAULT_STDOUT_LIMIT) : 0,
      onOutput: ctx.onOutput,
    }),
  );
  if (!r.ok) {
    const error = { ...r.error! };
    if (error.kind !== "cancelled" && error.kind !== "timeout") error.message += ` (on worker ${worker})`;
    return { ok: false, error, tail: r.tail, worker };
  }
  if (outputs.length === 0) return { ok: true, value: r.stdout.replace(/\n+$/, ""), worker };
  const files: FileValue[] = [];
  const modes: number[] = [];
  for (const o of outputs) {
    try {
      const abs = resolve(ctx.root, o);
      files.push({ $file: o, digest: await digestFile(abs) });
      modes.push((await stat(abs)).mode & 0o777);
    } catch {
      return {
        ok: false,
        error: {
          kind: "exit",
          message: `exited 0 but did not write its declared output ${o} (on worker ${worker})`,
        },
        tail: r.tail,
        worker,
      };
    }
  }
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
        tail: r.tail,
        worker,
      };
    }
  }
  return { ok: true, value: files.length === 1 ? files[0] : files, worker, modes };
}

async function runFunctionTask(
  task: RemoteTask,
  ref: { file: string; exportName: string },
  thread: boolean,
  ctx: ExecuteContext,
): Promise<WireOutcome> {
  const worker = ctx.identity;
  const fail = (error: StepError): WireOutcome => ({ ok: false, error, worker });
  if (isAbsolute(ref.file) || ref.file.startsWith("file:")) {
    return fail({ kind: "infra", message: `module file ${ref.file} must be relative to the project root` });
  }
  const abs = resolve(ctx.root, ref.file);
  const loaded = ctx.modules.get(abs, !thread);
  let mod: LoadedModule;
  try {
    mod = await loaded;
  } catch (err) {
    ctx.modules.forget(abs);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "it does not exist" : (err as Error).message;
    return fail({
      kind: "infra",
      message: `worker ${worker} cannot load ${ref.file} from its checkout ${ctx.root}: ${why}`,
    });
  }
  if (task.codeDigest !== undefined && mod.digest !== task.codeDigest) {
    return fail({ kind: "infra", message: await codeMismatch(task.codeDigest, mod, ref.file, abs, ctx) });
  }
  const context = { stepId: task.stepId, attempt: task.attempt };
  let value: unknown;
  if (thread) {
    const outcome = await withTimeout(task, ctx, async (signal): Promise<Settled> => {
      try {
        const file = { file: abs, exportName: ref.exportName };
        return { ok: true, value: await ctx.threads().run({ ...file, args: task.args, ...context }, signal) };
      } catch (err) {
        if (signal.aborted) return { ok: false, error: abortError(signal.reason) };
        return { ok: false, error: thrown(err, worker) };
      }
    });
    if (!outcome.ok) return fail(outcome.error);
    value = outcome.value;
  } else {
    const fn = callableOf(mod.exports![ref.exportName]);
    if (!fn) {
      return fail({
        kind: "infra",
        message: `${ref.file} on worker ${worker} has no function export "${ref.exportName}"`,
      });
    }
    const outcome = await withTimeout(task, ctx, async (signal): Promise<Settled> => {
      let r: unknown;
      try {
        r = fn.apply({ ...context, signal }, task.args);
      } catch (err) {
        return { ok: false, error: thrown(err, worker) };
      }
      // A plain value needs no race against the signal.
      if (r === null || typeof (r as PromiseLike<unknown> | undefined)?.then !== "function") {
        return { ok: true, value: r };
      }
      let onAbort = () => {};
      const aborted = new Promise<Settled>((res) => {
        onAbort = () => res({ ok: false, error: abortError(signal.reason) });
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      const call = Promise.resolve(r).then(
        (v): Settled => ({ ok: true, value: v }),
        (err): Settled => ({ ok: false, error: thrown(err, worker) }),
      );
      try {
        return await Promise.race([call, aborted]);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    });
    if (!outcome.ok) return fail(outcome.error);
    value = outcome.value;
  }
  if (value !== undefined) {
    const why = whyNotWireData(value);
    if (why) {
      return fail({
        kind: "value",
        message: `its value cannot travel back from worker ${worker}: ${why}; return plain data (JSON)`,
      });
    }
  }
  return { ok: true, value, worker };
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

/** Runs `fn` with a signal that also fires when the task's own timeout expires (a backstop). */
async function withTimeout<T>(
  task: RemoteTask,
  ctx: ExecuteContext,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (task.timeoutMs === undefined) return fn(ctx.signal);
  const controller = new AbortController();
  const onAbort = () => controller.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort({ kind: "timeout" }), task.timeoutMs);
  try {
    return await fn(controller.signal);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

type Settled = { ok: true; value: unknown } | { ok: false; error: StepError };

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

function abortError(reason: unknown, when = "while running"): StepError {
  return (reason as { kind?: string })?.kind === "timeout"
    ? { kind: "timeout", message: "timed out" }
    : { kind: "cancelled", message: `cancelled ${when}` };
}

function thrown(err: unknown, worker: string): StepError {
  const where = ` (on worker ${worker})`;
  if (err instanceof Error)
    return { kind: "threw", message: (err.message || err.name) + where, stack: err.stack };
  let text: string;
  try {
    text = JSON.stringify(err) ?? String(err);
  } catch {
    text = describe(err);
  }
  return { kind: "threw", message: `threw a non-Error value: ${text}${where}` };
}
