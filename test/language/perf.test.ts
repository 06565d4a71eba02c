import { describe, expect, it } from "vitest";
import { bigFlow } from "../../bench/sections/language.js";
import { compileFlow } from "../../src/language/index.js";

describe("performance", () => {
  it("parses, checks and compiles a 10,000-step flow in linear time", async () => {
    const small = bigFlow(2_000);
    const big = bigFlow(10_000);
    // Warm up the JIT, then take the best of a few runs (the machine may be busy).
    await compileFlow(small, "big.flow");
    const best = async (src: string): Promise<number> => {
      let min = Infinity;
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        const r = await compileFlow(src, "big.flow");
        min = Math.min(min, performance.now() - t0);
        expect(r.diagnostics).toEqual([]);
      }
      return min;
    };
    const tSmall = await best(small);
    const tBig = await best(big);
    const r = await compileFlow(big, "big.flow");
    expect(r.graph!.steps).toHaveLength(10_000);
    expect(r.graph!.outputs).toEqual(["n_9999"]);
    console.log(`compile: 2,000 steps ${tSmall.toFixed(0)} ms, 10,000 steps ${tBig.toFixed(0)} ms`);
    // 5x the steps must cost far less than 25x the time (no quadratic pass)...
    expect(tBig).toBeLessThan(tSmall * 12);
    // ...and stay within a generous absolute bound even on a loaded CI machine.
    expect(tBig).toBeLessThan(2000);
  });
});
