/**
 * Hostile input, generated: random token soups with unicode, deep nesting and long lines, and a scaling
 * check of the hostile shapes. Time is only ever compared with time in the same process (ratios), never
 * with a wall-clock bound.
 */
import fc from "fast-check";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { FLOW_VOCABULARY } from "./flow-vocabulary.js";
import { compileFlow, formatDiagnostics, type Diagnostic } from "../../src/language/index.js";

const OPTIONS = { root: tmpdir(), inputs: { x: "1" } };

async function timed(source: string): Promise<{ ms: number; diagnostics: Diagnostic[] }> {
  const t = performance.now();
  const r = await compileFlow(source, "f.flow", OPTIONS);
  return { ms: performance.now() - t, diagnostics: r.diagnostics };
}

/** The fastest of `runs` compiles: the least disturbed by GC and the JIT. */
async function fastest(source: string, runs: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, (await timed(source)).ms);
  return best;
}

/** A valid flow of about `bytes` bytes: inputs, values, records, lists, sh steps with interpolation. */
function goodFlow(bytes: number): string {
  const lines = ['in x: String = "1"', "pool net = 2"];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line =
      i % 3 === 0
        ? `v${i} = { name: "n-\${x}", list: [1, 2.5, ${i}], on: true, t: 150ms }`
        : i % 3 === 1
          ? `s${i} = sh("echo \${x} '\${v${i - 1}.name}' > \${output("out/${i}.txt")}") with retry: 2, pool: net`
          : `w${i} = [v${i - 2}.list[0], s${i - 1}, "a\\tb"]`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join("\n");
}

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
  it("only diagnostics, never an internal error, in time proportional to a good flow's", async () => {
    // What a valid flow costs per size, measured here: the yardstick of every random input.
    const sizes = [2_000, 8_000, 32_000, 128_000];
    const reference = new Map<number, number>();
    for (const s of sizes) reference.set(s, await fastest(goodFlow(s), 3));
    const budget = (length: number): number =>
      50 * reference.get(sizes.find((s) => s >= length) ?? sizes.at(-1)!)!;
    let largest = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (source) => {
        largest = Math.max(largest, source.length);
        const { ms, diagnostics } = await timed(source);
        for (const d of diagnostics) {
          expect(d.code, d.message.slice(0, 300)).not.toBe("internal");
          expect(d.start).toBeLessThanOrEqual(d.end);
          expect(d.end).toBeLessThanOrEqual(source.length);
        }
        expect(formatDiagnostics(diagnostics, source).length).toBeLessThan(101 * 800);
        // A slow run is measured again before it counts: one GC pause is not a finding.
        if (ms > budget(source.length)) expect(await fastest(source, 3)).toBeLessThan(budget(source.length));
      }),
      { numRuns: 120 },
    );
    expect(largest).toBeGreaterThan(2_000);
  });
});

/** Hostile shapes at size n. */
const SHAPES: Record<string, (n: number) => string> = {
  "index chain": (n) => "x = [1]\ny = x" + "[0]".repeat(n),
  parentheses: (n) => "y = " + "(".repeat(n) + "1" + ")".repeat(n),
  "bad characters": (n) => "y = 1 " + "@".repeat(n),
  "NUL bytes": (n) => "\0".repeat(n),
  "bad characters between words": (n) => "@a".repeat(n),
  "${ in a string": (n) => 'y = "' + "${".repeat(n),
  "wide list": (n) => "y = [" + "1, ".repeat(n) + "]",
  "a value using many values": (n) =>
    Array.from({ length: n }, (_, i) => `a${i} = ${i}`).join("\n") +
    `\nx = [${Array.from({ length: n }, (_, i) => `a${i}`).join(", ")}]\nout x`,
  "out of many names": (n) =>
    Array.from({ length: n }, (_, i) => `a${i} = ${i}`).join("\n") +
    `\nout ${Array.from({ length: n }, (_, i) => `a${i}`).join(", ")}`,
  "unknown names among many": (n) =>
    Array.from({ length: n }, (_, i) => `x${i} = sh("\${y${i}}")`).join("\n"),
  "a chain of values": (n) =>
    "v0 = [1]\n" + Array.from({ length: n }, (_, i) => `v${i + 1} = [v${i}, v${i}]`).join("\n"),
  "broken lines": (n) => Array(n).fill("x = (").join("\n"),
  "unterminated strings": (n) => Array(n).fill('x = "abc').join("\n"),
  "sh interpolations in a comment": (n) => 'a = "q"\nx = sh("# ' + "${a} ".repeat(n) + '")',
};

describe("hostile shapes compile in linear time", () => {
  // Linear time makes 8n cost about 8 times n, quadratic 64 times: 24 leaves room for noise and still
  // fails anything quadratic. Small and large runs alternate, so that a busy machine slows both, and the
  // fastest of each counts; a ratio over the bound is measured again (up to 3 times) before it fails, as
  // quadratic work is over it every time and noise is not.
  for (const [name, shape] of Object.entries(SHAPES)) {
    it(name, async () => {
      const n = 1000;
      const small = shape(n);
      const large = shape(8 * n);
      await fastest(small, 2); // warm up
      let ratio = Infinity;
      for (let attempt = 0; attempt < 3 && ratio >= 24; attempt++) {
        let s = Infinity;
        let l = Infinity;
        for (let k = 0; k < 2; k++) {
          s = Math.min(s, await fastest(small, 2));
          l = Math.min(l, await fastest(large, 1));
        }
        ratio = l / Math.max(s, 0.05);
      }
      expect(ratio).toBeLessThan(24);
    });
  }
});
