import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../src/engine/events.js";
import { flow, threadModule } from "../../src/index.js";
import type * as Cpu from "../fixtures/cpu-module.js";
import { eventually, processesMatching, uniqueSleep } from "../helpers/procs.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const byId = (steps: { id: string }[]) =>
  Object.fromEntries(steps.map((s) => [s.id, s])) as Record<string, any>;

describe("failure isolation", () => {
  it("a throwing step fails alone: dependents are blocked naming it, independent steps finish", async () => {
    const t = flow();
    const bad = t.step("bad", (): number => {
      throw new Error("boom");
    });
    const mid = t.step("mid", (x: number) => x + 1, bad);
    t.step("leaf", (x: number) => x + 1, mid);
    const good = t.step("good", async () => (await sleep(20), 1));
    t.step("good2", (x: number) => x * 2, good);
    const r = await t.run(undefined, { concurrency: 2 });
    const s = byId(r.steps);
    expect(r.ok).toBe(false);
    expect(s.bad.status).toBe("failed");
    expect(s.bad.error).toMatchObject({ kind: "threw", message: "boom" });
    expect(s.mid).toMatchObject({ status: "blocked", blockedBy: "bad" });
    expect(s.leaf).toMatchObject({ status: "blocked", blockedBy: "bad" });
    expect(s.good2).toMatchObject({ status: "ok", value: 2 });
    expect(r.summary).toMatchObject({ total: 5, ok: 2, failed: 1, blocked: 2 });
  });

  it("reports thrown non-Errors readably", async () => {
    const t = flow();
    t.step("str", () => {
      throw "plain string";
    });
    t.step("obj", async () => {
      throw { code: 42 };
    });
    t.step("undef", () => Promise.reject(undefined));
    const s = byId((await t.run()).steps);
    expect(s.str.error.message).toBe('threw a non-Error value: "plain string"');
    expect(s.obj.error.message).toBe('threw a non-Error value: {"code":42}');
    expect(s.undef.error.message).toBe("threw a non-Error value: undefined");
  });

  it("times out a step that hangs forever and aborts its signal", async () => {
    let aborted = false;
    const t = flow();
    t.step({ id: "hang", timeout: "50ms" }, function (this: { signal: AbortSignal }) {
      this.signal.addEventListener("abort", () => (aborted = true));
      return new Promise(() => {});
    });
    t.step("other", () => "done");
    const s = byId((await t.run()).steps);
    expect(s.hang.error).toEqual({ kind: "timeout", message: "timed out after 50ms" });
    expect(aborted).toBe(true);
    expect(s.other.status).toBe("ok");
  });

  it("retries with exponential backoff, then succeeds", async () => {
    let calls = 0;
    const t = flow();
    t.step({ id: "flaky", retries: 3, backoff: { initial: 10, factor: 3, jitter: 0 } }, () => {
      calls++;
      if (calls < 3) throw new Error(`attempt ${calls} failed`);
      return calls;
    });
    const events: EngineEvent[] = [];
    const r = await t.run(undefined, { onEvent: (e) => events.push(e) });
    expect(r.steps[0]).toMatchObject({ status: "ok", value: 3, attempts: 3 });
    const retries = events.filter((e) => e.type === "step-retry") as Extract<
      EngineEvent,
      { type: "step-retry" }
    >[];
    expect(retries.map((e) => [e.attempt, e.delayMs, e.error.message])).toEqual([
      [1, 10, "attempt 1 failed"],
      [2, 30, "attempt 2 failed"],
    ]);
  });

  it("jitter shortens delays by up to its fraction", async () => {
    const t = flow();
    t.step({ id: "f", retries: 1, backoff: { initial: 100, jitter: 0.5 } }, () => {
      throw new Error("x");
    });
    const events: EngineEvent[] = [];
    await t.run(undefined, { onEvent: (e) => events.push(e), random: () => 1 });
    expect(events.find((e) => e.type === "step-retry")).toMatchObject({ delayMs: 50 });
  });

  it("gives up after the last retry and reports every attempt", async () => {
    const t = flow();
    t.step({ id: "never", retries: 2, backoff: { initial: 1 } }, () => {
      throw new Error("still broken");
    });
    const r = await t.run();
    expect(r.steps[0]).toMatchObject({ status: "failed", attempts: 3, error: { message: "still broken" } });
  });

  it("failFast stops launching new work after the first failure", async () => {
    const t = flow();
    t.step("fails", () => {
      throw new Error("x");
    });
    const a = t.step("slow", async () => (await sleep(30), 1));
    t.step("later", (x: number) => x, a);
    const r = await t.run(undefined, { concurrency: 2, failFast: true });
    const s = byId(r.steps);
    expect(s.fails.status).toBe("failed");
    expect(s.slow.status).toBe("ok");
    expect(s.later.status).toBe("cancelled");
    expect(s.later.error.message).toBe("fail-fast: fails failed");
  });

  it("an unserializable value cannot be passed to a command", async () => {
    const t = flow();
    const fn = t.step("makesFn", () => function secret() {});
    t.exec("usesIt", ["echo", fn]);
    const s = byId((await t.run()).steps);
    expect(s.makesFn.status).toBe("ok");
    expect(s.usesIt.status).toBe("failed");
    expect(s.usesIt.error.message).toMatch(/cannot turn a function \(secret\) into text/);
  });
});

describe("cancellation", () => {
  it("an AbortSignal stops running processes, keeps finished results, leaves no orphans", async () => {
    const marker = uniqueSleep();
    const controller = new AbortController();
    const t = flow();
    t.step("quick", () => "kept");
    const slow = t.sh("slow")`sleep ${marker} & sleep ${marker}; wait`;
    t.exec("after", ["echo", slow]);
    const r = await t.run(undefined, {
      signal: controller.signal,
      killGraceMs: 200,
      onEvent: (e) => {
        if (e.type === "step-start" && e.id === "slow") setTimeout(() => controller.abort(), 50);
      },
    });
    const s = byId(r.steps);
    expect(r.cancelled).toBe(true);
    expect(s.quick).toMatchObject({ status: "ok", value: "kept" });
    expect(s.slow.status).toBe("cancelled");
    expect(s.after.status).toBe("cancelled");
    expect(processesMatching(marker)).toEqual([]);
  });

  it("SIGINT to a program running a flow stops it cleanly: no orphan processes", async () => {
    const marker = uniqueSleep();
    const script = fileURLToPath(new URL("../fixtures/sigint-run.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, marker], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    expect(await eventually(() => out.includes("started"), 20_000)).toBe(true);
    expect(await eventually(() => processesMatching(marker).length >= 2)).toBe(true);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(130);
    const statuses = Object.fromEntries(JSON.parse(out.split("\n")[1]!) as [string, string][]);
    expect(statuses).toEqual({ quick: "ok", slow: "cancelled", after: "cancelled" });
    expect(processesMatching(marker)).toEqual([]);
  });
});

describe("worker-thread executor", () => {
  const cpu = new URL("../fixtures/cpu-module.ts", import.meta.url);

  it("runs CPU-bound functions off the main thread, in parallel", async () => {
    const t = flow();
    const a = t.threaded("fibA", threadModule<typeof Cpu.fib>(cpu, "fib"), 25);
    const b = t.threaded("fibB", threadModule<typeof Cpu.fib>(cpu, "fib"), 20);
    const tid = t.threaded("tid", threadModule<typeof Cpu.threadId>(cpu, "threadId"));
    const sum = t.step("sum", (x: number, y: number) => x + y, a, b);
    const r = await t.run([sum, tid], { concurrency: 2 });
    expect(r.ok).toBe(true);
    expect(r.outputs.sum).toBe(75025 + 6765);
    expect(r.outputs.tid).not.toBe(0); // 0 is the main thread
  });

  it("a thread step that runs too long is terminated on timeout", async () => {
    const t = flow();
    t.threaded({ id: "spin", timeout: "100ms" }, threadModule<typeof Cpu.spin>(cpu, "spin"), 60_000);
    const r = await t.run();
    expect(r.steps[0]!.error!.kind).toBe("timeout");
  });
});

describe("map", () => {
  it("fans out over a list known only at run time, one step per item", async () => {
    const t = flow();
    const items = t.step("items", async () => [1, 2, 3, 4]);
    const started: number[] = [];
    const squares = t.map("squares", items, async (x: number) => {
      started.push(x);
      return x * x;
    });
    const total = t.step("total", (xs: number[]) => xs.reduce((a, b) => a + b, 0), squares);
    const r = await t.run(total, { concurrency: 1 });
    expect(r.value).toBe(30);
    // Named by the item, not by its position; started in list order.
    expect(r.steps.filter((s) => s.id.startsWith("squares[")).map((s) => s.id)).toEqual([
      "squares[1]",
      "squares[2]",
      "squares[3]",
      "squares[4]",
    ]);
    expect(started).toEqual([1, 2, 3, 4]);
  });

  it("a failed item fails alone; a consumer is blocked unless it takes partial results", async () => {
    const t = flow();
    const items = t.step("items", () => [1, 2, 3]);
    const judged = t.map("judged", items, (x: number) => {
      if (x === 2) throw new Error("judge unavailable");
      return x * 10;
    });
    t.step("strict", (xs: number[]) => xs.length, judged);
    t.step({ id: "lenient", partial: true }, (p: any) => p, judged as any);
    const s = byId((await t.run(undefined, { concurrency: 1 })).steps);
    expect(s["judged[2]"].status).toBe("failed");
    expect(s["judged[1]"].status).toBe("ok");
    // The list itself did not fail: it is blocked by its failed item, so one bad item counts once.
    expect(s.judged).toMatchObject({ status: "blocked", blockedBy: "judged[2]" });
    expect(s.judged.error.message).toBe("blocked: 1 of 3 items failed (judged[2])");
    expect(s.strict).toMatchObject({ status: "blocked", blockedBy: "judged" });
    expect(s.lenient.status).toBe("ok");
    expect(s.lenient.value).toEqual({
      ok: [10, 30],
      failed: [
        // No stack and no time: the record is part of the consumer's cache key.
        {
          key: "2",
          index: 1,
          item: 2,
          status: "failed",
          error: { kind: "threw", message: "judge unavailable" },
        },
      ],
    });
  });

  it("an empty list completes the map at once", async () => {
    const t = flow();
    const items = t.step("items", (): number[] => []);
    const out = t.map("out", items, (x: number) => x);
    const r = await t.run(out);
    expect(r.value).toEqual([]);
  });
});
