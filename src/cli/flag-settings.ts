import type { CacheSettings } from "../project/cache.js";
import type { RemoteSettings } from "../project/remote.js";
import { CliError } from "./exit-codes.js";

/**
 * How the cache and queue flags of a command line become the Project API's settings. Free of commander
 * and of the option checks: every command that has these flags loads it, `--help` included.
 */

export interface CacheFlags {
  /** false with --no-cache. */
  cache?: boolean;
  cacheDir?: string;
  remoteCache?: string;
  cacheKeyFile?: string;
  remoteCacheReadOnly?: boolean;
  remoteCacheRequired?: boolean;
}

/** The cache a command line asks for: false with --no-cache (none at all). */
export function cacheSettingsOf(flags: CacheFlags): CacheSettings | false {
  if (flags.cache === false) return false;
  return {
    dir: flags.cacheDir,
    remote: flags.remoteCache,
    keyFile: flags.cacheKeyFile,
    remoteReadOnly: flags.remoteCacheReadOnly,
    remoteRequired: flags.remoteCacheRequired,
  };
}

export interface QueueFlags {
  queue?: string;
  prefix?: string;
  tlsCa?: string;
}

/** The remote settings of a command line; `flag` names the option that gave the URL. */
export function remoteSettingsOf(url: string, flag: string, flags: QueueFlags): RemoteSettings {
  if (!/^rediss?:\/\//.test(url))
    throw new CliError(`${flag} needs a redis:// or rediss:// URL, got "${url}"`);
  return { url, queue: flags.queue, prefix: flags.prefix, tlsCa: flags.tlsCa };
}
