/**
 * Modules for profile.flow: a simulated user service. Each export made with module() is typed by its
 * schemas, so the flow's calls are checked before anything runs, and every value is validated at run
 * time. The `this` of run() is the step context: pass its signal on so that timeouts cancel the work.
 */
import { z } from "zod";
import { module } from "tributary-flow/module";

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
    await latency(80, this.signal);
    return { id, name: `User ${id}`, email: `user${id}@example.com` };
  },
});

export const GetOrders = module({
  input: [z.string()],
  output: z.array(Order),
  async run(userId) {
    await latency(120, this.signal);
    return [
      { id: `${userId}-1`, total: 30 },
      { id: `${userId}-2`, total: 12.5 },
    ];
  },
});

export const GetPreferences = module({
  input: [z.string()],
  output: Preferences,
  // A module-wide limit: every step of GetPreferences shares it.
  throttle: "20/s",
  async run() {
    await latency(40, this.signal);
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
  version: "1",
  run: (user, orders, prefs) => ({
    name: user.name,
    email: user.email,
    orders: orders.length,
    spent: orders.reduce((sum, o) => sum + o.total, 0),
    theme: prefs.theme,
  }),
});
