import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLOW_VOCABULARY } from "./flow-vocabulary.js";
import { loadModuleFile as loadModule } from "../../src/executors/load-module.js";
import { compileFlow, formatDiagnostics, parseFlow, type Diagnostic } from "../../src/language/index.js";
import { IMPORTS, cleanup, project } from "./helpers.js";
import { join } from "node:path";

/** Valid flows that the mutations start from (they compile without errors). */
const CORPUS = [
  `# profile
in userId: String = "7"
user = Id(userId)
orders = Id(user.id) with retry: 3, timeout: 2s, backoff: { initial: 10ms, max: 1s }
prefs = Id(userId) with priority: low, throttle: 20/s
profile = Both(user, [orders, prefs])
out profile`,
  `pool net = 2
in n: Int = 3
in tags: List<{ name: String, w: Optional<Float> }> = [{ name: "a", w: 1.5 }]
xs = [1, 2, n]
sq = map(xs, Id) with concurrency: 2, partial: false
sum = Both(sq, tags[0].name) with partial: true, pool: net, cpus: 1
out sum`,
  `a = exec("cc", "-c", file("a.c"), "-o", output("out/a.o"))
b = exec("cc", a, "-o", output("out/app"))
c = sh("./\${b} --x=\${"q \${1}"} > \${output("out/c.txt")}") with env: ["HOME"], cache: false, estimate: 1min
d = sh("cat \${glob("src/*.txt")}")
out c, d`,
];

const MODULES = `${IMPORTS}
export function Id(x: unknown) { return x; }
export const Both = module({ input: [z.any(), z.any()], run: (a, b) => [a, b] });
`;

let dir: string;
beforeAll(() => {
  dir = project({ "modules.ts": MODULES });
});
afterAll(cleanup);

function wellFormed(ds: Diagnostic[], source: string): void {
  for (const d of ds) {
    expect(d.code).not.toBe("internal");
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(d.start).toBeLessThanOrEqual(d.end);
    expect(d.end).toBeLessThanOrEqual(source.length);
  }
  expect(typeof formatDiagnostics(ds, source)).toBe("string");
}

/** Splits into rough tokens (words, strings pieces, punctuation, whitespace) for token-level mutations. */
function roughTokens(s: string): string[] {
  return s.match(/[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?[a-z]*(?:\/\d*[a-z]+)?|\$\{|\s+|./g) ?? [];
}

type Mutation =
  | { op: "delete-char" | "dup-char"; at: number }
  | { op: "swap-char"; at: number; to: number }
  | { op: "insert-char"; at: number; ch: string }
  | { op: "delete-token" | "dup-token"; at: number }
  | { op: "swap-token"; at: number; to: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom("delete-char" as const, "dup-char" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("swap-char" as const), at: fc.nat(), to: fc.nat() }),
  fc.record({
    op: fc.constant("insert-char" as const),
    at: fc.nat(),
    ch: fc.constantFrom(..."\"'{}[]()<>,:.=#$\\\n /-_0a \t\u00e9\u{1F600}".split("")),
  }),
  fc.record({ op: fc.constantFrom("delete-token" as const, "dup-token" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("swap-token" as const), at: fc.nat(), to: fc.nat() }),
);

function mutate(source: string, ms: Mutation[]): string {
  let s = source;
  for (const m of ms) {
    if (m.op.endsWith("-char")) {
      if (s.length === 0) continue;
      const at = m.at % s.length;
      if (m.op === "delete-char") s = s.slice(0, at) + s.slice(at + 1);
      else if (m.op === "dup-char") s = s.slice(0, at) + s[at] + s.slice(at);
      else if (m.op === "insert-char") s = s.slice(0, at) + (m as { ch: string }).ch + s.slice(at);
      else {
        const to = (m as { to: number }).to % s.length;
        const a = [...s];
        [a[at], a[to]] = [a[to]!, a[at]!];
        s = a.join("");
      }
    } else {
      const t = roughTokens(s);
      if (t.length === 0) continue;
      const at = m.at % t.length;
      if (m.op === "delete-token") t.splice(at, 1);
      else if (m.op === "dup-token") t.splice(at, 0, t[at]!);
      else {
        const to = (m as { to: number }).to % t.length;
        [t[at], t[to]] = [t[to]!, t[at]!];
      }
      s = t.join("");
    }
  }
  return s;
}

const soup = fc
  .array(fc.constantFrom(...FLOW_VOCABULARY), { maxLength: 40 })
  .chain((toks) =>
    fc
      .array(fc.constantFrom(" ", "", "  "), { minLength: toks.length, maxLength: toks.length })
      .map((seps) => toks.map((t, i) => t + seps[i]).join("")),
  );

describe("fuzz: only diagnostics, never exceptions", () => {
  it("the corpus itself is valid", async () => {
    for (const src of CORPUS) {
      const r = await compileFlow(`use "./modules.ts"\n${src}`, join(dir, "f.flow"), {
        root: dir,
        loadModule,
      });
      expect(formatDiagnostics(r.diagnostics, src)).toBe("");
      expect(r.graph).toBeDefined();
    }
  });

  it("parseFlow on mutated flows", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CORPUS),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        (src, ms) => {
          const s = mutate(src, ms);
          const r = parseFlow(s, "f.flow");
          wellFormed(r.diagnostics, s);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("parseFlow on token soups", () => {
    fc.assert(
      fc.property(soup, (s) => {
        wellFormed(parseFlow(s, "f.flow").diagnostics, s);
      }),
      { numRuns: 1500 },
    );
  });

  it("compileFlow on mutated flows (without use: no module imports)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CORPUS),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        async (src, ms) => {
          const s = mutate(src, ms);
          const r = await compileFlow(s, join(dir, "f.flow"), { root: dir, inputs: { userId: "1" } });
          wellFormed(r.diagnostics, s);
          if (!r.diagnostics.some((d) => d.severity === "error")) expect(r.graph).toBeDefined();
        },
      ),
      { numRuns: 600 },
    );
  });

  it("compileFlow on mutated flows that use a module file", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CORPUS),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        async (src, ms) => {
          const s = mutate(`use "./modules.ts"\n${src}`, ms);
          const r = await compileFlow(s, join(dir, "f.flow"), { root: dir, loadModule });
          wellFormed(r.diagnostics, s);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("compileFlow on token soups", async () => {
    await fc.assert(
      fc.asyncProperty(soup, async (s) => {
        const r = await compileFlow(s, join(dir, "f.flow"), { root: dir, inputs: { x: "1", zz: "2" } });
        wellFormed(r.diagnostics, s);
      }),
      { numRuns: 600 },
    );
  });
});
