import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";

describe("engine smoke", () => {
  it("runs independent steps concurrently and the join after all of them", async () => {
    const t = flow();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const a = t.step("a", async (x: number) => (await sleep(30), x + 1), 1);
    const b = t.step("b", async (x: number) => (await sleep(30), x * 2), 5);
    const c = t.step("c", (x: number, y: number) => x + y, a, b);
    const r = await t.run(c, { concurrency: 4 });
    expect(r.ok).toBe(true);
    expect(r.value).toBe(12);
    const [ra, rb, rc] = ["a", "b", "c"].map((id) => r.steps.find((s) => s.id === id)!);
    // Overlap: each of a and b started before the other ended.
    expect(ra!.startMs!).toBeLessThan(rb!.endMs!);
    expect(rb!.startMs!).toBeLessThan(ra!.endMs!);
    expect(rc!.startMs!).toBeGreaterThanOrEqual(Math.max(ra!.endMs!, rb!.endMs!));
  });
});
