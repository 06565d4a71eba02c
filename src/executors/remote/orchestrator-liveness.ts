import type { Redis } from "./bullmq-ioredis.js";
import { withDeadline } from "./protocol.js";

/** A client whose heartbeat has been missing this long is gone: its jobs are dropped. */
const CLIENT_GONE_MS = 10_000;
/** A heartbeat seen this recently is not checked again before starting a step. */
const CLIENT_ALIVE_MS = 2_000;

/**
 * The worker's view of whether the orchestrators (clients) whose jobs it runs still wait for them, from
 * their heartbeat keys in Redis. A heartbeat counts as gone only after it has been missing for a while,
 * so that a Redis restart (which loses the keys) is not taken for every orchestrator leaving; Redis
 * being unreachable says nothing either way.
 */
export class OrchestratorLiveness {
  /** Orchestrators whose heartbeat was last seen, by client id → when. */
  private readonly alive = new Map<string, number>();
  /** Orchestrators whose heartbeat was found missing, by client id → since when. */
  private readonly missing = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly heartbeatKey: (client: string) => string,
  ) {}

  /** True once an orchestrator's heartbeat has been missing for a while (a Redis restart is not enough). */
  async gone(client: string): Promise<boolean> {
    const now = Date.now();
    if (now - (this.alive.get(client) ?? 0) < CLIENT_ALIVE_MS) return false;
    let exists: number;
    try {
      exists = await withDeadline(this.redis.exists(this.heartbeatKey(client)), 2000);
    } catch {
      return false; // Redis unreachable: that says nothing about the orchestrator.
    }
    if (exists) {
      this.alive.set(client, now);
      this.missing.delete(client);
      return false;
    }
    const since = this.missing.get(client) ?? now;
    this.missing.set(client, since);
    return now - since >= CLIENT_GONE_MS;
  }

  /**
   * Looks at the heartbeats of `clients` (and of those already found missing), and returns the
   * orchestrators now gone; undefined when there was nothing to look at or Redis did not answer.
   */
  async check(clients: Iterable<string>): Promise<Set<string> | undefined> {
    const all = new Set(clients);
    for (const c of this.missing.keys()) all.add(c);
    if (all.size === 0) return undefined;
    const list = [...all];
    let exists: number[];
    try {
      const p = this.redis.pipeline();
      for (const c of list) p.exists(this.heartbeatKey(c));
      const res = await withDeadline(p.exec(), 3000);
      exists = (res ?? []).map(([err, n]) => (err ? 1 : Number(n)));
    } catch {
      return undefined; // Redis unreachable: that says nothing about the orchestrators.
    }
    const now = Date.now();
    list.forEach((c, k) => {
      if (exists[k]) {
        this.missing.delete(c);
        this.alive.set(c, now);
      } else if (!this.missing.has(c)) this.missing.set(c, now);
    });
    const gone = new Set<string>();
    for (const [c, since] of this.missing) if (now - since >= CLIENT_GONE_MS) gone.add(c);
    // Forget orchestrators nobody runs steps for any more.
    for (const [c, since] of this.missing) if (now - since > 10 * CLIENT_GONE_MS) this.missing.delete(c);
    for (const [c, at] of this.alive) if (now - at > 10 * CLIENT_GONE_MS) this.alive.delete(c);
    return gone;
  }
}
