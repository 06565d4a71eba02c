import { readFileSync } from "node:fs";
import type { Executor } from "../engine/executor.js";
import { UserError } from "../engine/user-error.js";
import type { TransferOutputs } from "../engine/transfer-port.js";

/**
 * Where steps go to be run by `tributary worker`s: the same settings for the orchestrator (`run --remote`)
 * and the workers, so that they cannot disagree by construction.
 */
export interface RemoteSettings {
  /** redis:// or rediss:// URL (`--redis`/`--remote`; else $TRIBUTARY_REDIS). */
  url: string;
  /** The BullMQ queue (default "tributary"). */
  queue?: string;
  /** BullMQ key prefix in Redis (default "bull"). */
  prefix?: string;
  /** PEM file of the CA that signed the Redis server's certificate (with rediss://). */
  tlsCa?: string;
}

/** The ioredis connection of the settings; a URL or CA file that cannot work is a user error. */
export function redisConnection(settings: RemoteSettings): {
  url: string;
  redisOptions: { tls?: { ca: Buffer } };
} {
  const { url } = settings;
  if (!/^rediss?:\/\//.test(url))
    throw new UserError(`Redis needs a redis:// or rediss:// URL, got "${url}"`);
  const redisOptions: { tls?: { ca: Buffer } } = {};
  if (settings.tlsCa) {
    try {
      redisOptions.tls = { ca: readFileSync(settings.tlsCa) };
    } catch (err) {
      throw new UserError(`--tls-ca: cannot read ${settings.tlsCa}: ${(err as Error).message}`);
    }
  }
  return { url, redisOptions };
}

/** Connects the orchestrator's remote executor (BullMQ loads only here). */
export async function openRemoteExecutor(
  settings: RemoteSettings,
  root: string,
  transferOutputs: TransferOutputs | undefined,
  onWarning: (message: string) => void,
): Promise<Executor> {
  const connection = redisConnection(settings);
  const { createRedisExecutor } = await import("../executors/remote/index.js");
  try {
    return await createRedisExecutor({
      ...connection,
      queue: settings.queue,
      prefix: settings.prefix,
      projectRoot: root,
      // With a remote cache, workers' output files come through its CAS (no shared directory needed).
      transferOutputs,
      onWarning,
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    // Redis down or refusing us: the user's to fix, told in one line (exit 1: nothing ran).
    throw new UserError(`--remote: ${(err as Error).message}`, 1);
  }
}
