/**
 * Hostile input, generated: random token soups with unicode, deep nesting and long lines, and the
 * hostile shapes at scale. Correctness only: how compile time grows with them is measured by
 * `npm run bench` (language section), never by a timed assertion here.
 */
import fc from "fast-check";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { FLOW_VOCABULARY } from "./flow-vocabulary.js";
import { compileFlow, formatDiagnostics } from "../../src/language/index.js";
import { SHAPES } from "../../bench/hostile-shapes.js";

const OPTIONS = { root: tmpdir(), inputs: { x: "1" } };

/** The fuzz vocabulary, and what a hostile file adds: NUL, prototype names, bidi overrides, emoji, CR. */
const TOKENS = [
  ...FLOW_VOCABULARY,
  "\u0000",
  "__proto__",
  "constructor",
  "toString",
  "\u202e",
  "\u{1F600}",
  "é",
  "\t",
  "\r\n",
];

/** Pieces of hostile input: tokens, random unicode, deep nesting, long runs. */
const piece: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKENS).map((t) => t + " ") },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("(", "[", "{ a: ", "F(", '"${', "List<", "x.b", "x[0]"),
        fc.integer({ min: 1, max: 600 }),
      )
      .map(([open, n]) => open.repeat(n)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(")", "]", "}", ">", '}"', "@", "a, ", "${x}", " ", "\u0000", "x = 1\n"),
        fc.integer({ min: 1, max: 3000 }),
      )
      .map(([t, n]) => t.repeat(n)),
  },
);
const hostile = fc.array(piece, { maxLength: 24 }).map((ps) => ps.join(""));

describe("fuzz: hostile input", () => {
  it("only diagnostics, never an internal error", async () => {
    let largest = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (source) => {
        largest = Math.max(largest, source.length);
        const { diagnostics } = await compileFlow(source, "f.flow", OPTIONS);
        for (const d of diagnostics) {
          expect(d.code, d.message.slice(0, 300)).not.toBe("internal");
          expect(d.start).toBeLessThanOrEqual(d.end);
          expect(d.end).toBeLessThanOrEqual(source.length);
        }
        expect(formatDiagnostics(diagnostics, source).length).toBeLessThan(101 * 800);
      }),
      { numRuns: 120 },
    );
    expect(largest).toBeGreaterThan(2_000);
  });
});

describe("hostile shapes", () => {
  // Their growth in time (8n against n) is measured by `npm run bench` (language section), not here.
  for (const [name, shape] of Object.entries(SHAPES)) {
    it(`${name}: only diagnostics at 8,000, never an internal error, and a bounded report`, async () => {
      const source = shape(8_000);
      const r = await compileFlow(source, "f.flow", OPTIONS);
      for (const d of r.diagnostics) {
        expect(d.code, d.message.slice(0, 300)).not.toBe("internal");
        expect(d.end).toBeLessThanOrEqual(source.length);
      }
      // The report names the first 100 problems and counts the rest.
      expect(formatDiagnostics(r.diagnostics, source).length).toBeLessThan(101 * 800);
    });
  }
});
