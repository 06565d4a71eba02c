/**
 * The content-addressed step cache: fingerprints, a local action cache + cas, a stat cache, explain
 * data and maintenance. See docs/caching.md.
 */
export { openCache, explainLastRun, recordedOutputs } from "./open-cache.js";
export { LocalCache } from "./local-cache.js";
export type { OpenCacheOptions } from "./local-cache.js";
export { readLastRun } from "./run-tally.js";
export type { RunCounters, LastRun } from "./run-tally.js";
export { cacheStats, gc, clean, parseSize, formatSize } from "./maintenance.js";
export type { CacheStats, GcOptions, GcResult } from "./maintenance.js";
export { formatExplanation, formatChange } from "./explain.js";
export type { Explanation, Change, Cause, Outcome } from "./explain.js";
export { LocalDirStore } from "./store.js";
export type { BlobStore, Namespace, PutOptions } from "./store.js";
export { fingerprint, FINGERPRINT_FORMAT } from "./fingerprint.js";
export type { Components, Fingerprint, RichCacheRequest } from "./fingerprint.js";
export { defaultCacheDir, resolveCacheDir, DEFAULT_CACHE_SUBDIR } from "./layout.js";
export { StatCache } from "./stat-cache.js";
export { digestBytes, digestFile, DIGEST_ALGORITHM } from "../graph/digest.js";
