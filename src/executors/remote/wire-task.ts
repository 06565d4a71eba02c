import { isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { CodeDigests } from "./code-digest.js";
import { whyNotWireData } from "./protocol.js";
import type { RemoteTask } from "./task.js";

/**
 * Why a task's inputs cannot travel to a worker, or undefined when they can. An argument that is
 * undefined (a step that returned nothing) travels as a hole the worker restores.
 */
export function whyInputsCannotTravel(task: RemoteTask): string | undefined {
  return task.args.reduce<string | undefined>(
    (w, a, k) => w ?? (a === undefined ? undefined : whyNotWireData(a, `input[${k}]`)),
    undefined,
  );
}

/**
 * The task as it travels: plain data, module files relative to the project root, the code digest added.
 * Throws, with a message for the user, when a function step cannot run on a worker.
 */
export async function toWireTask(task: RemoteTask, root: string, digests: CodeDigests): Promise<RemoteTask> {
  const a = task.action;
  let action: RemoteTask["action"];
  let codeDigest = task.codeDigest;
  if (a.kind === "process") {
    action = { kind: "process" };
    if (a.shell) action.shell = true;
    if (a.env) action.env = a.env;
    if (a.cwd !== undefined) action.cwd = a.cwd;
  } else {
    if (!a.ref) throw new Error(`step ${task.stepId} has no module file, so it cannot run on a worker`);
    const abs = a.ref.file.startsWith("file:") ? fileURLToPath(a.ref.file) : resolve(root, a.ref.file);
    const rel = relative(root, abs);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
      throw new Error(
        `module file ${abs} is outside the project root ${root}: workers load modules from their own checkout of the project`,
      );
    }
    action = { kind: "function", ref: { file: rel.split(sep).join("/"), exportName: a.ref.exportName } };
    if (a.thread) action.thread = true;
    try {
      codeDigest ??= await digests.get(abs);
    } catch (err) {
      throw new Error(`cannot read module ${rel}: ${(err as Error).message}`);
    }
  }
  const holes = task.args.flatMap((a, k) => (a === undefined ? [k] : []));
  const wire: RemoteTask & { undefinedArgs?: number[] } = {
    stepId: task.stepId,
    attempt: task.attempt,
    module: task.module,
    action,
    args: holes.length > 0 ? task.args.map((a) => (a === undefined ? null : a)) : task.args,
    outputs: task.outputs,
    priority: task.priority,
  };
  if (task.timeoutMs !== undefined) wire.timeoutMs = task.timeoutMs;
  if (task.stdoutLimit !== undefined && a.kind === "process") wire.stdoutLimit = task.stdoutLimit;
  if (task.killGraceMs !== undefined && a.kind === "process") wire.killGraceMs = task.killGraceMs;
  if (task.env && Object.keys(task.env).length > 0) wire.env = task.env;
  if (codeDigest !== undefined) wire.codeDigest = codeDigest;
  if (holes.length > 0) wire.undefinedArgs = holes;
  return wire;
}
