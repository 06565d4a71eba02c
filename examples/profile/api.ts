/**
 * Service fan-out through the TS API: three independent lookups run concurrently, then the join.
 * Run: node_modules/.bin/tsx examples/profile/api.ts
 */
import { flow } from "../../src/index.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface User {
  id: string;
  name: string;
}
interface Order {
  id: number;
  total: number;
}

async function getUser(id: string): Promise<User> {
  await sleep(100);
  return { id, name: "Ada Lovelace" };
}
async function getOrders(_userId: string): Promise<Order[]> {
  await sleep(150);
  return [
    { id: 1, total: 30 },
    { id: 2, total: 12 },
  ];
}
async function getPreferences(_userId: string): Promise<{ theme: string }> {
  await sleep(80);
  return { theme: "dark" };
}
function buildProfile(user: User, orders: Order[], prefs: { theme: string }) {
  return { ...user, ...prefs, orders: orders.length, spent: orders.reduce((s, o) => s + o.total, 0) };
}

const t = flow();
const user = t.step("user", getUser, "u42");
const orders = t.step("orders", getOrders, "u42");
const preferences = t.step("preferences", getPreferences, "u42");
const profile = t.step("profile", buildProfile, user, orders, preferences);

const result = await t.run(profile, { concurrency: 8 });
const sequentialMs = result.steps.reduce((sum, s) => sum + (s.endMs! - s.startMs!), 0);
console.log(result.value);
console.log(
  `wall ${result.summary.wallMs.toFixed(0)} ms vs ${sequentialMs.toFixed(0)} ms run one after another ` +
    `(critical path ${result.summary.criticalPath.join(" -> ")}: ${result.summary.criticalPathMs.toFixed(0)} ms)`,
);
