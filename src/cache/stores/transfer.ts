/**
 * Output files of remote steps through the remote CAS, for workers and an orchestrator that do not share
 * a project directory: the worker uploads each output's blob (the `transferOutputs` hook of
 * `startWorker`), the orchestrator downloads them into its own project (the hook of
 * `createRedisExecutor`), verified against the digests the worker reported.
 */
import { chmod, mkdir } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { OutputFile, TransferOutputs } from "../../engine/transfer-port.js";
import { moveIntoPlace, tempPathBeside, withTempFile } from "../atomic-write.js";
import { digestFile } from "../../graph/digest.js";
import { writablePathInside } from "../../graph/inside-project.js";
import type { BlobStore } from "../store.js";
import { short, type RemoteStore } from "./remote.js";

/** A store to fetch outputs from; `strict` (TieredStore) makes a failing remote reject, not miss. */
export type DownloadStore = BlobStore & {
  location?: string;
  getFile(digest: string, dest: string, options?: { link?: boolean; strict?: boolean }): Promise<boolean>;
};

/** Files uploaded or downloaded at once. */
const PARALLEL = 4;

/** The worker's hook: uploads each output file's content to the store's CAS (unless it has it). */
export function uploadOutputs(store: RemoteStore): TransferOutputs {
  return async (outputs, { root }) => {
    await forEach(outputs, async (f) => {
      const abs = inside(root, f.$file);
      // putFile hashes exactly the bytes it sends: a file rewritten meanwhile cannot land under the
      // digest of its former content.
      const { digest } = await store.putFile(abs);
      if (digest !== f.digest) {
        throw new Error(
          `${f.$file} changed after the step wrote it (digest ${short(f.digest)}, now ${short(digest)})`,
        );
      }
    });
  };
}

/**
 * The orchestrator's hook: puts each output file in place under `root` from the store (a TieredStore
 * keeps a local copy too), checks its digest, sets its mode and renames it over the old file. An output
 * already in place with the same content is left alone.
 */
export function downloadOutputs(store: DownloadStore): TransferOutputs {
  const where = store.location ?? store.description;
  return async (outputs, { root }) => {
    await forEach(outputs, async (f: OutputFile) => {
      const abs = inside(root, f.$file);
      if ((await digestFile(abs).catch(() => undefined)) === f.digest) {
        if (f.mode !== undefined) await chmod(abs, f.mode);
        return;
      }
      await mkdir(dirname(abs), { recursive: true });
      await withTempFile(tempPathBeside(abs), async (tmp) => {
        // strict: a remote that cannot be reached says so, rather than "no blob".
        if (!(await store.getFile(f.digest, tmp, { strict: true }))) {
          throw new Error(`${where} has no blob ${short(f.digest)} for ${f.$file}`);
        }
        const got = await digestFile(tmp);
        if (got !== f.digest) {
          throw new Error(
            `the blob of ${f.$file} from ${where} has other content (${short(got)}, expected ${short(f.digest)})`,
          );
        }
        await chmod(tmp, f.mode ?? 0o644);
        await moveIntoPlace(tmp, abs);
      });
    });
  };
}

/** Where an output lands, refusing a path (or a symbolic link on its way) that leads out of the project. */
function inside(root: string, rel: string): string {
  const abs = isAbsolute(rel) ? undefined : writablePathInside(root, rel);
  if (abs === undefined) throw new Error(`output ${rel} is outside the project`);
  return resolve(root, rel);
}

async function forEach<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(PARALLEL, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}
