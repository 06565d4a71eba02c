import { resolve } from "node:path";
import { digestFile } from "../../graph/digest.js";
import { isFileValue, type FileValue } from "../../graph/ir.js";
import { sleep, type TransferOutputs } from "./protocol.js";

/**
 * A worker's output files, made available to the orchestrator: fetched through the hook (the remote
 * cache), or else checked to be visible here with the same content (a shared project directory).
 * Returns what went wrong, or undefined.
 */
export async function fetchOutputs(
  value: unknown,
  worker: string | undefined,
  modes: number[] | undefined,
  root: string,
  /** The executor's options: the hook is called as their method. */
  hooks: { transferOutputs?: TransferOutputs },
): Promise<string | undefined> {
  const files = (Array.isArray(value) ? value : [value]).filter(isFileValue) as FileValue[];
  if (hooks.transferOutputs) {
    try {
      const withModes = files.map((f, i) => {
        const mode = modes?.[i];
        return Number.isInteger(mode) ? { ...f, mode: mode! & 0o777 } : f;
      });
      await hooks.transferOutputs(withModes, { root });
      return undefined;
    } catch (err) {
      return `could not fetch the outputs of worker ${worker ?? "?"}: ${(err as Error).message}`;
    }
  }
  for (const f of files) {
    let seen: string | undefined;
    for (let tries = 0; tries < 3; tries++) {
      seen = await digestFile(resolve(root, f.$file)).catch(() => undefined);
      if (seen === f.digest) break;
      await sleep(200);
    }
    if (seen !== f.digest) {
      const what = seen === undefined ? "does not see it" : "sees other content";
      return `worker ${worker ?? "?"} wrote ${f.$file}, but the orchestrator ${what} under ${root}: share the project directory with the workers (same path, e.g. over NFS) or configure the remote cache`;
    }
  }
  return undefined;
}
