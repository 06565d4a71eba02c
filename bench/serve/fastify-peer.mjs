// The hand-written peer of `tributary serve` in the serve benchmark (issue 13): what a Fastify service
// does for bench/serve/profile-bench.flow without Tributary. The same route, the same zod validation
// of the input and of each call's arguments and result, the same latencies, the three calls at once with
// Promise.all, then the join; the reply has the shape of serve's (`{ outputs, traceId }`). Plain JS like
// the other peers (no TS loader in the process whose CPU and memory are measured).
//
//   node bench/serve/fastify-peer.mjs [--port N]   (default 0: any free port)
//
// Speaks serve's start-up and shutdown protocol, so one driver loads both: the first stdout line is
// `{"msg":"listening","url":"http://127.0.0.1:PORT"}`; SIGTERM closes the server and exits 0.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { z } from "zod";

const User = z.object({ id: z.string(), name: z.string(), email: z.string() });
const Order = z.object({ id: z.string(), total: z.number() });
const Orders = z.array(Order);
const Preferences = z.object({ theme: z.enum(["light", "dark"]), newsletter: z.boolean() });
const Profile = z.object({
  name: z.string(),
  email: z.string(),
  orders: z.number(),
  spent: z.number(),
  theme: z.string(),
});
// A run of the flow rejects unknown inputs and needs userId, a string.
const Inputs = z.strictObject({ userId: z.string() });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function getUser(id) {
  id = z.string().parse(id);
  await sleep(100);
  return User.parse({ id, name: `User ${id}`, email: `user${id}@example.com` });
}

async function getOrders(userId) {
  userId = z.string().parse(userId);
  await sleep(150);
  return Orders.parse([
    { id: `${userId}-1`, total: 30 },
    { id: `${userId}-2`, total: 12.5 },
  ]);
}

async function getPreferences(userId) {
  z.string().parse(userId);
  await sleep(80);
  return Preferences.parse({ theme: "dark", newsletter: true });
}

async function buildProfile(user, orders, prefs) {
  user = User.parse(user);
  orders = Orders.parse(orders);
  prefs = Preferences.parse(prefs);
  await sleep(20);
  return Profile.parse({
    name: user.name,
    email: user.email,
    orders: orders.length,
    spent: orders.reduce((sum, o) => sum + o.total, 0),
    theme: prefs.theme,
  });
}

const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });
const app = Fastify({ logger: false });

app.post("/flows/profile-bench", async (request, reply) => {
  const inputs = Inputs.safeParse(request.body ?? {});
  if (!inputs.success) {
    return reply.code(400).send({ error: "bad inputs", problems: inputs.error.issues });
  }
  const { userId } = inputs.data;
  const [user, orders, prefs] = await Promise.all([
    getUser(userId),
    getOrders(userId),
    getPreferences(userId),
  ]);
  const profile = await buildProfile(user, orders, prefs);
  return { outputs: { profile }, traceId: randomUUID() };
});

const url = await app.listen({ host: "127.0.0.1", port: Number(values.port) });
process.stdout.write(`${JSON.stringify({ msg: "listening", url })}\n`);

process.once("SIGTERM", () => {
  app.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
});
