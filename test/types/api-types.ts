/**
 * Type-level tests of the TS API, checked by `tsc` (npm run typecheck), never executed: every
 * `@ts-expect-error` line must be a compile error, or tsc fails with "unused directive".
 */
import { flow, type Handle } from "../../src/index.js";

interface User {
  id: string;
  name: string;
}
declare function getUser(id: string): Promise<User>;
declare function getOrders(id: string): Promise<number[]>;
declare function buildProfile(user: User, orders: number[]): { user: User; count: number };
declare function countChars(s: string): number;

const t = flow();
const user = t.step("user", getUser, "u1");
const orders = t.step("orders", getOrders, "u1");

// A handle carries its function's awaited return type.
const u: Handle<User> = user;
const profile = t.step("profile", buildProfile, user, orders);
const p: Handle<{ user: User; count: number }> = profile;

// Fields of a handle are handles of the field's type.
const name: Handle<string> = user.field("name");
t.step("chars", countChars, user.field("id"));

// @ts-expect-error a Handle<number[]> is not a User
t.step("bad1", buildProfile, orders, orders);
// @ts-expect-error a literal of the wrong type
t.step("bad2", getUser, 42);
// @ts-expect-error missing argument
t.step("bad3", buildProfile, user);
// @ts-expect-error a handle never passes for a record parameter structurally
t.step("bad4", buildProfile, { id: "x", name: "y" } as unknown as Handle<number>, orders);
// @ts-expect-error no such field
user.field("email");
// @ts-expect-error Handle<User> is not Handle<string>
const wrong: Handle<string> = user;

// run() returns the target's value type.
async function check(): Promise<void> {
  const r = await t.run(profile, { concurrency: 8 });
  const count: number | undefined = r.value?.count;
  // @ts-expect-error value is the profile, not a string
  const s: string | undefined = r.value;
  void count;
  void s;
}

void [u, p, name, wrong, check];
