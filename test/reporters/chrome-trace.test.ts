import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";
import {
  ChromeTraceReporter,
  combineReporters,
  PlainReporter,
  type ChromeTrace,
} from "../../src/reporters/index.js";
import { MemoryStream, mixedFlow, sleep } from "./helpers.js";

describe("chrome-trace reporter", () => {
  it("writes one slice per attempt, on lanes that never overlap, at most one lane per slot", async () => {
    const { t, targets } = mixedFlow();
    const extra = [1, 2, 3, 4].map((k) => t.step(`w${k}`, async () => (await sleep(5 * k), k)));
    const traceOut = new MemoryStream();
    const plainOut = new MemoryStream();
    const reporter = combineReporters(new ChromeTraceReporter(traceOut), new PlainReporter(plainOut));
    await t.run([...targets, ...extra], { concurrency: 3, onEvent: reporter.onEvent });
    reporter.close();

    const trace = JSON.parse(traceOut.text()) as ChromeTrace;
    const slices = trace.traceEvents.filter((e) => e.ph === "X");
    // load, compile, report, w1..w4 once; flaky three times (two retries).
    const names = slices.map((e) => e.name).sort();
    expect(names).toEqual(["compile", "flaky", "flaky", "flaky", "load", "report", "w1", "w2", "w3", "w4"]);
    expect(slices.filter((e) => e.name === "flaky").map((e) => e.args!.attempt)).toEqual([1, 2, 3]);
    expect(slices.find((e) => e.name === "compile")!.args).toMatchObject({
      status: "failed",
      error: "exit code 3",
    });
    const lanes = new Set(slices.map((e) => e.tid));
    expect(Math.max(...lanes)).toBeLessThanOrEqual(3);
    expect(Math.min(...lanes)).toBeGreaterThanOrEqual(1);
    for (const lane of lanes) {
      const onLane = slices.filter((e) => e.tid === lane).sort((a, b) => a.ts - b.ts);
      for (let i = 1; i < onLane.length; i++) {
        expect(onLane[i]!.ts).toBeGreaterThanOrEqual(onLane[i - 1]!.ts + onLane[i - 1]!.dur!);
      }
    }
    // The blocked step is an instant on the run lane; lanes are named.
    expect(trace.traceEvents.find((e) => e.ph === "i" && e.name === "link (blocked)")).toMatchObject({
      tid: 0,
    });
    expect(trace.traceEvents.filter((e) => e.name === "thread_name").map((e) => e.args!.name)).toContain(
      "slot 1",
    );
    // The other reporter of the pair still got everything.
    expect(plainOut.text()).toContain("link blocked by compile");
  });

  it("shows a map as a span on the run lane with its items in the slots", async () => {
    const t = flow();
    const list = t.step("list", () => [1, 2, 3]);
    const m = t.map("double", list, async (x: number) => (await sleep(1), x * 2));
    const out = new MemoryStream();
    await t.run(m, { liveOutput: true, concurrency: 2, onEvent: new ChromeTraceReporter(out).onEvent });
    const trace = JSON.parse(out.text()) as ChromeTrace;
    const group = trace.traceEvents.find((e) => e.name === "double" && e.ph === "X")!;
    expect(group.tid).toBe(0);
    const items = trace.traceEvents.filter((e) => e.ph === "X" && e.name.startsWith("double["));
    expect(items).toHaveLength(3);
    for (const it of items) {
      expect(it.tid).toBeGreaterThan(0);
      expect(it.ts).toBeGreaterThanOrEqual(group.ts);
      expect(it.ts + it.dur!).toBeLessThanOrEqual(group.ts + group.dur! + 1);
    }
  });
});
