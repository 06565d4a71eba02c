/**
 * The serve benchmark's pieces at tiny scale, for correctness only (no timing): the Fastify peer answers
 * what profile-bench.flow computes, the load driver counts responses and reads the server's /proc, the
 * in-process child gets every output right, and the section's HTTP part either compares `tributary
 * serve` with the peer or says serve is missing. Real servers over real HTTP, real child processes.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  cpuSeconds,
  loadTest,
  peakRssKb,
  peerCommand,
  postJson,
  PROFILE_FLOW,
  PROFILE_ROUTE,
  serveAvailable,
  serveCommand,
  startServer,
  type Server,
} from "../../bench/serve/driver.js";
import { tributaryCli } from "../../bench/peers.js";
import { httpPart, inProcessPart, runChild, SERVE_MISSING } from "../../bench/sections/serve.js";
import type { SectionOptions } from "../../bench/sections/common.js";
import { loadFlow } from "../../src/index.js";

const OPTIONS: SectionOptions = { quick: true, tools: [] };
const started: Server[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function start(name: string, command: string): Promise<Server> {
  const s = await startServer(name, command);
  started.push(s);
  return s;
}

describe("serve benchmark (issue 13)", () => {
  it("the Fastify peer answers the outputs profile-bench.flow computes, and rejects what the flow rejects", async () => {
    const flow = await loadFlow(PROFILE_FLOW);
    const run = await flow.run({ userId: "7" });
    expect(run.ok).toBe(true);
    expect(run.outputs).toEqual({
      profile: { name: "User 7", email: "user7@example.com", orders: 2, spent: 42.5, theme: "dark" },
    });

    const peer = await start("peer", peerCommand());
    expect(peer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const reply = await postJson(peer.url + PROFILE_ROUTE, { userId: "7" });
    expect(reply.status).toBe(200);
    const body = reply.json as { outputs: unknown; traceId: unknown };
    expect(body.outputs).toEqual(run.outputs);
    expect(typeof body.traceId).toBe("string");

    for (const bad of [{ userId: 7 }, {}, { userId: "7", extra: 1 }]) {
      expect(flow.checkInputs(bad).ok).toBe(false);
      expect((await postJson(peer.url + PROFILE_ROUTE, bad)).status).toBe(400);
    }
    expect(await peer.stop()).toBe(0);
  });

  it("the driver loads a server and reads its CPU and peak RSS from /proc", async () => {
    const peer = await start("peer", peerCommand());
    const cpu0 = cpuSeconds(peer.pid);
    expect(cpu0).toBeGreaterThan(0); // Node's start-up alone
    const r = await loadTest(peer.url + PROFILE_ROUTE, { connections: 4, amount: 12, body: { userId: "1" } });
    expect(r).toMatchObject({ connections: 4, ok: 12, errors: 0 });
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
    expect(cpuSeconds(peer.pid)).toBeGreaterThanOrEqual(cpu0);
    expect(peakRssKb(peer.pid)).toBeGreaterThan(10_000);

    const wrong = await loadTest(peer.url + "/flows/nope", { connections: 2, amount: 4, body: {} });
    expect(wrong).toMatchObject({ ok: 0, errors: 4, firstError: "HTTP 404" });
    expect(await peer.stop()).toBe(0);
  });

  it("a server that never says it is listening is an error with its output", async () => {
    await expect(startServer("mute", `node -e "console.log('hello'); process.exit(3)"`)).rejects.toThrow(
      /mute: exited 3 before it was listening[\s\S]*hello/,
    );
  });

  it("tributary serve answers the peer's JSON, or the section says serve is not available", async () => {
    const cli = tributaryCli();
    const serve = serveAvailable(cli);
    const text = await httpPart(OPTIONS, { connections: [4], warmS: 0.2, durationS: 0.5 });
    expect(text).not.toContain("failed:");
    expect(text).toMatch(/\| 4 \| Fastify, hand-written \| [\d.]+ \| [\d.]+ \| [\d,]+ \| 0 \|/);
    if (!serve.ok) {
      expect(serve.reason).toContain("serve");
      expect(text).toContain(SERVE_MISSING);
      return;
    }
    // With serve in the build: the section compared both servers' outputs and computed the ratios.
    expect(text).toMatch(/\| 4 \| \*\*tributary serve\*\* \| [\d.]+ \| [\d.]+ \| [\d,]+ \| 0 \|/);
    expect(text).toContain("p50 overhead");
    const [ours, peer] = await Promise.all([
      start("tributary serve", serveCommand(cli, 64)),
      start("peer", peerCommand()),
    ]);
    const [a, b] = await Promise.all(
      [ours, peer].map((s) => postJson(s.url + PROFILE_ROUTE, { userId: "9" })),
    );
    expect(a!.status).toBe(200);
    expect((a!.json as { outputs: unknown }).outputs).toEqual((b!.json as { outputs: unknown }).outputs);
    expect(typeof (a!.json as { traceId: unknown }).traceId).toBe("string");
    expect(await ours.stop()).toBe(0);
  });

  it("the in-process child runs the loaded 20-step flow and the floor with every output right", () => {
    const r = runChild("flow", 100, 8);
    expect(r).toMatchObject({ kind: "flow", runs: 100, inFlight: 8, steps: 20, ok: true, bad: 0 });
    expect(r.checkpoints.map((c) => c.runs)).toEqual([0, 10, 100]);
    // Both kinds, one after another and 64 at once; runChild throws on a wrong output.
    const text = inProcessPart(OPTIONS, 100);
    expect(text).toContain("| one after another |");
    expect(text).toContain("| 64 at once |");
    expect(text).toContain("bench/serve/noop20.flow");
  });
});
