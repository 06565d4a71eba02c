import { describe, expect, it } from "vitest";
import { bigFlow } from "../../bench/sections/language.js";
import { compileFlow } from "../../src/language/index.js";

// How long this takes, and that it grows linearly with the flow, is measured by `npm run bench` (section
// `language`), not here.
describe("a large flow", () => {
  it("parses, checks and compiles a generated 10,000-step flow: every step, the one output", async () => {
    const r = await compileFlow(bigFlow(10_000), "big.flow");
    expect(r.diagnostics).toEqual([]);
    expect(r.graph!.steps).toHaveLength(10_000);
    expect(r.graph!.steps[9_999]!.id).toBe("n_9999");
    expect(r.graph!.outputs).toEqual(["n_9999"]);
  });
});
