/**
 * Modules of profile-bench.flow: examples/profile/modules.ts with the benchmark's latencies and no
 * module limits. bench/serve/fastify-peer.mjs does the same calls with the same schemas by hand; the
 * serve benchmark's test checks that both answer the same JSON.
 */
import { z } from "zod";
import { module } from "tributary-flow";

const User = z.object({ id: z.string(), name: z.string(), email: z.string() });
const Order = z.object({ id: z.string(), total: z.number() });
const Preferences = z.object({ theme: z.enum(["light", "dark"]), newsletter: z.boolean() });

/** A fake network call: resolves after `ms`, or rejects when the step is cancelled or times out. */
function latency(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("aborted"));
    });
  });
}

export const GetUser = module({
  input: [z.string()],
  output: User,
  async run(id) {
    await latency(100, this.signal);
    return { id, name: `User ${id}`, email: `user${id}@example.com` };
  },
});

export const GetOrders = module({
  input: [z.string()],
  output: z.array(Order),
  async run(userId) {
    await latency(150, this.signal);
    return [
      { id: `${userId}-1`, total: 30 },
      { id: `${userId}-2`, total: 12.5 },
    ];
  },
});

export const GetPreferences = module({
  input: [z.string()],
  output: Preferences,
  async run() {
    await latency(80, this.signal);
    return { theme: "dark" as const, newsletter: true };
  },
});

export const BuildProfile = module({
  input: [User, z.array(Order), Preferences],
  output: z.object({
    name: z.string(),
    email: z.string(),
    orders: z.number(),
    spent: z.number(),
    theme: z.string(),
  }),
  async run(user, orders, prefs) {
    await latency(20, this.signal);
    return {
      name: user.name,
      email: user.email,
      orders: orders.length,
      spent: orders.reduce((sum, o) => sum + o.total, 0),
      theme: prefs.theme,
    };
  },
});
