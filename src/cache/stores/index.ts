/**
 * Stores behind the cache besides the local directory: a shared directory, an HTTP cache (Bazel remote-cache
 * protocol), the tiered store that puts the local directory in front of either, signing of action-cache
 * entries, and the transfer of remote workers' outputs through the CAS. See docs/caching.md.
 */
import { resolve } from "node:path";
import type { LocalCache, OpenCacheOptions } from "../local-cache.js";
import { openCache } from "../open-cache.js";
import { defaultCacheDir } from "../layout.js";
import { PendingUploads } from "../pending-uploads.js";
import { LocalDirStore } from "../store.js";
import { Circuit } from "./circuit.js";
import { HttpStore, type HttpStoreOptions } from "./http.js";
import type { RemoteStore, WarningSink } from "./remote.js";
import { SharedDirStore } from "./shared-dir.js";
import type { AcSigner } from "./signing.js";
import { TieredStore } from "./tiered.js";

export { HttpStore, type HttpStoreOptions } from "./http.js";
export { Circuit } from "./circuit.js";
export { SharedDirStore } from "./shared-dir.js";
export { TieredStore, type TieredStoreOptions, type TieredCounters } from "./tiered.js";
export { AcSigner, openAcEntry, loadCacheKey, MIN_KEY_BYTES } from "./signing.js";
export { CacheUnreachableError, type RemoteStore } from "./remote.js";
export { uploadOutputs, downloadOutputs } from "./transfer.js";

/** `http://…` / `https://…` is an HTTP cache; anything else without a scheme is a directory path. */
export function openRemoteStore(
  spec: string,
  options: { cwd?: string; onWarning?: WarningSink; http?: HttpStoreOptions; circuit?: Circuit } = {},
): RemoteStore {
  if (/^https?:\/\//i.test(spec)) {
    return new HttpStore(spec, {
      ...options.http,
      onWarning: options.onWarning,
      circuit: options.circuit ?? options.http?.circuit,
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new Error(
      `unsupported remote cache ${JSON.stringify(spec)}: use an http:// or https:// URL, or a directory path`,
    );
  }
  if (spec.trim() === "") throw new Error("the remote cache is an empty string");
  return new SharedDirStore(resolve(options.cwd ?? process.cwd(), spec), { onWarning: options.onWarning });
}

export interface OpenTieredCacheOptions extends Omit<OpenCacheOptions, "store"> {
  /** The remote: an http(s):// URL, a directory path, or a store. */
  remote: string | RemoteStore;
  signer?: AcSigner;
  /** false: never upload (read-only remote). */
  upload?: boolean;
  http?: HttpStoreOptions;
}

/**
 * Opens the local cache with a remote behind it: `openCache` over a {@link TieredStore}. The store's
 * warnings go through the cache (counted with its own). Uploads that earlier runs could not make start at
 * once (see pending-uploads.ts). Close the cache, then `store.close()` (which waits for uploads still
 * running). A remote given as a string is given up on for the rest of the run once unreachable.
 */
export async function openTieredCache(
  options: OpenTieredCacheOptions,
): Promise<{ cache: LocalCache; store: TieredStore }> {
  const root = resolve(options.root);
  const dir = resolve(options.dir ?? defaultCacheDir(root));
  let cache: LocalCache | undefined;
  const early: string[] = [];
  const sink: WarningSink = (m) => (cache ? cache.warn(m) : early.push(m));
  const remote =
    typeof options.remote === "string"
      ? openRemoteStore(options.remote, { onWarning: sink, http: options.http, circuit: Circuit.forRun() })
      : options.remote;
  const local = new LocalDirStore(dir);
  const upload = options.upload !== false && options.write !== false;
  const store = new TieredStore(local, remote, {
    signer: options.signer,
    upload,
    pending: upload ? new PendingUploads(dir, remote.location) : undefined,
    onWarning: sink,
  });
  try {
    cache = await openCache({ ...options, root, dir, store });
  } catch (err) {
    await remote.close();
    throw err;
  }
  await local.sweepTemps().catch(() => 0);
  for (const m of early) cache.warn(m);
  store.drainPending();
  return { cache, store };
}
