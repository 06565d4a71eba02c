import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Attempt } from "../../engine/executor.js";
import type { Outcome } from "../../engine/outcome.js";
import type { FileValue } from "../../graph/ir.js";
import { outputLanding } from "../../graph/inside-project.js";

/**
 * Creates the directories of a step's declared outputs before it runs; an output that would be written
 * outside the project (through a symbolic link on its way) fails the step instead, naming it.
 */
export function prepareOutputs(root: string, outputs: readonly string[]): Outcome | undefined {
  for (const o of outputs) {
    const landing = outputLanding(root, o);
    if (landing === undefined) {
      return {
        ok: false,
        error: {
          kind: "input",
          message: `its output ${o} would be written outside the project ${root} (a symbolic link on its way leads out); remove the link or declare another path`,
        },
      };
    }
    // Synchronous: a syscall or two, against a thread-pool hand-off per output.
    if (!landing.dirExists) mkdirSync(dirname(resolve(root, o)), { recursive: true });
  }
  return undefined;
}

/**
 * The value of a process step that declared outputs: the files it wrote, hashed. A declared output it
 * did not write fails the step, naming the file.
 */
export async function collectOutputs(attempt: Attempt, tail: string | undefined): Promise<Outcome> {
  const files: FileValue[] = [];
  for (const o of attempt.outputs) {
    try {
      files.push({ $file: o, digest: await attempt.digest(resolve(attempt.root, o)) });
    } catch {
      return {
        ok: false,
        error: { kind: "exit", message: `exited 0 but did not write its declared output ${o}` },
        tail,
      };
    }
  }
  return { ok: true, value: files.length === 1 ? files[0] : files, tail };
}
