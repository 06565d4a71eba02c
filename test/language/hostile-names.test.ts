import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import { IMPORTS, cleanup, compileIn, project } from "./helpers.js";

/** Names that are also properties of Object.prototype (or that set it). */
const HOSTILE = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];

const MODULES = `${IMPORTS}
export function Id(x: unknown) { return x; }
export const Limited = module({ input: [z.any()], run: (x) => x, concurrency: 2 });
${HOSTILE.map(
  (n, i) =>
    `const m${i} = module({ input: [z.any()], run: (x) => ({ got: x }), concurrency: 1, throttle: "50/s" });\n` +
    `export { m${i} as ${n} };`,
).join("\n")}
`;

/** Hostile names as modules, steps, record fields, and pools in a flow of their own (same namespace as steps). */
function stepsFlow(): string {
  const lines = ['use "./modules.ts"'];
  HOSTILE.forEach((n, i) => {
    lines.push(`${n} = ${n}({ ${n}: ${i}, "x": { "${n}": [${i}] } }) with concurrency: 3`);
    lines.push(`v${i} = Id(${n}.got.x.${n}[0])`);
    lines.push(`w${i} = Limited({ ${n}: { polluted: ${n}.got.${n} } })`);
  });
  lines.push(`out ${HOSTILE.join(", ")}, ${HOSTILE.map((_, i) => `v${i}, w${i}`).join(", ")}`);
  return lines.join("\n");
}

function poolsFlow(): string {
  const lines = ['use "./modules.ts"'];
  HOSTILE.forEach((n, i) => {
    lines.push(`pool ${n} = ${i + 1}`);
    lines.push(`s${i} = Id(${i}) with pool: ${n}`);
  });
  return lines.join("\n");
}

/** Hostile names as inputs (with record types), values, and keys nobody declared. */
function inputsFlow(): string {
  const lines = ['use "./modules.ts"'];
  HOSTILE.forEach((n, i) => {
    lines.push(`in ${n}: { ${n}: Int, "${n}x": Optional<String> } = { ${n}: ${i} }`);
    lines.push(`${n}_v = { ${n}: [${n}.${n}] }`);
    lines.push(`r${i} = Id(${n}_v.${n}[0]) with ${n}: 1`);
    lines.push(`q${i} = Id({}.${n})`);
    lines.push(`p${i} = Id(${n}_v.prototype)`);
  });
  return lines.join("\n");
}

const GOOD = `use "./modules.ts"
pool net = 2
in who: String = "ann"
a = Id({ name: who, tags: ["x", "y"] }) with pool: net
b = Limited(a.name) with concurrency: 3
c = Id([a.tags[1], b])
out a, c`;

let dir: string;
beforeAll(() => {
  dir = project({ "modules.ts": MODULES });
});
afterAll(cleanup);

function clean(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_KEYS);
}
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

describe("names are just names", () => {
  it("hostile names compile as names: modules, steps, pools, fields", async () => {
    const r = await compileIn(dir, stepsFlow());
    expect(r.text).toBe("");
    clean();
    const g = r.graph!;
    expect(Object.keys(g.limits!).sort()).toEqual([...HOSTILE, "Limited"].sort());
    expect(g.limits!.__proto__).toEqual({ concurrency: 3, rate: { tokens: 50, perMs: 1000 } });
    expect(Object.keys(r.info.steps)).toEqual(expect.arrayContaining(HOSTILE));
    const run = await runGraph(g, { root: dir });
    clean();
    expect(run.ok).toBe(true);
    HOSTILE.forEach((n, i) => {
      expect(run.outputs[`v${i}`]).toBe(i);
      const w = run.outputs[`w${i}`] as Record<string, unknown>;
      expect(Object.getPrototypeOf(w)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(w, n)?.value).toEqual({ polluted: i });
    });
  });

  it("hostile pool names are pool names", async () => {
    const r = await compileIn(dir, poolsFlow());
    expect(r.text).toBe("");
    clean();
    const g = r.graph!;
    expect(Object.keys(g.pools!).sort()).toEqual([...HOSTILE].sort());
    expect(g.pools!.__proto__).toBe(1);
    expect(Object.keys(r.info.pools)).toEqual(HOSTILE);
    expect(g.steps.map((s) => s.options.pool)).toEqual(HOSTILE);
    const run = await runGraph(g, { root: dir });
    clean();
    expect(run.ok).toBe(true);
  });

  it("hostile input, value and option names get diagnostics, not a polluted process", async () => {
    const r = await compileIn(dir, inputsFlow());
    clean();
    expect(r.diagnostics.filter((d) => d.code === "internal")).toEqual([]);
    for (const n of HOSTILE) {
      expect(r.text).toContain(`error: unknown option ${n}`);
      expect(r.text).toContain(`no field ${n}`);
    }
    expect(r.text).toContain("no field prototype");
  });

  it("hostile words where the language looks words up: units, priorities, types", async () => {
    const r = await compileIn(
      dir,
      [
        'use "./modules.ts"',
        "a = Id(1) with timeout: 5constructor, priority: constructor, estimate: 2toString",
        "b = Id(1) with throttle: 5/constructor, priority: __proto__",
        "in c: constructor",
        "in d: List<toString> = []",
      ].join("\n"),
    );
    clean();
    const messages = r.diagnostics.map((d) => d.message);
    expect(messages).toEqual([
      'unknown unit "constructor" in 5constructor',
      "timeout must be a duration, like 2s, got the number 5",
      "priority must be a number or low, normal, high, got constructor",
      'unknown unit "toString" in 2toString',
      "estimate must be a duration, like 30s, got the number 2",
      "5/constructor is not a rate",
      "priority must be a number or low, normal, high, got __proto__",
      "input c is required, but no value was given",
      "unknown type constructor",
      "unknown type toString",
    ]);
  });

  it("after a hostile flow, a good flow compiles and runs identically", async () => {
    const before = await compileIn(dir, GOOD);
    expect(before.text).toBe("");
    const ran = await runGraph(before.graph!, { root: dir });
    for (const flow of [stepsFlow, poolsFlow, inputsFlow]) await compileIn(dir, flow());
    clean();
    const after = await compileIn(dir, GOOD);
    expect(after.text).toBe("");
    expect(JSON.stringify(after.graph)).toBe(JSON.stringify(before.graph));
    const again = await runGraph(after.graph!, { root: dir });
    expect(again.outputs).toEqual(ran.outputs);
    expect(again.ok).toBe(true);
  });
});
