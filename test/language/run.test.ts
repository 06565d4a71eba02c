import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import type { EngineEvent } from "../../src/engine/events.js";
import type { Graph } from "../../src/graph/ir.js";
import { IMPORTS, cleanup, compileIn, project } from "./helpers.js";

const MODULES = `${IMPORTS}
const User = z.object({ id: z.string(), name: z.string() });
export const GetUser = module({
  input: [z.string()],
  output: User,
  run: async (id) => ({ id, name: "user " + id }),
});
export const GetOrders = module({
  input: [z.string()],
  output: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
  run: async (id) => [{ sku: "a-" + id, qty: 2 }, { sku: "b-" + id, qty: 1 }],
});
export const BuildProfile = module({
  input: [User, z.array(z.object({ sku: z.string(), qty: z.number() }))],
  run: (user, orders) => ({ name: user.name, items: orders.reduce((n, o) => n + o.qty, 0) }),
});

let flaky = 0;
/** Fails twice, then succeeds. */
export async function Flaky(x: string) {
  flaky++;
  if (flaky < 3) throw new Error("flaky failure " + flaky);
  return x + " after " + flaky;
}
/** Never settles: a run that waited for it after its timeout would never end. */
export function Hangs(): Promise<never> {
  return new Promise(() => {});
}
export function Id(x: unknown) { return x; }
export function Concat(...xs: unknown[]) { return xs.map(String).join("+"); }
export const Square = module({
  input: [z.number()],
  output: z.number(),
  run: (n) => { if (n === 2) throw new Error("two is not welcome"); return n * n; },
});
export const AddTo = module({ input: [z.number(), z.number()], output: z.number(), run: (n, k) => n + k });
let running = 0;
export let maxRunning = 0;
export const Tracked = module({
  input: [z.number()],
  run: async (n) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
    return { n, max: maxRunning };
  },
});
export function Summarize(r: { ok: number[]; failed: { index: number; item: unknown; status: string }[] }) {
  return { ok: r.ok, failed: r.failed.map((f) => ({ index: f.index, item: f.item, status: f.status })) };
}
export const Lies = module({ input: [z.string()], output: z.number(), run: (s) => s as unknown as number });
export const Strict = module({ input: [z.string()], run: (s) => s.toUpperCase() });
export const Heavy = module({
  input: [z.number()],
  output: z.number(),
  cpu: true,
  run: (n) => { let s = 0; for (let i = 0; i < n; i++) s += i; return s; },
});
export const Limited = module({ input: [z.string()], run: (s) => s, concurrency: 2, throttle: "50/s", version: "3" });
export function ReadFile(f: { $file: string; digest: string }) { return f.$file + ":" + f.digest.length; }
`;

let dir: string;
beforeAll(() => {
  dir = project({ "modules.ts": MODULES, "in.txt": "hello\n", "data/a.csv": "a", "data/b.csv": "b" });
});
afterAll(cleanup);

async function compile(body: string, inputs: Record<string, string> = {}): Promise<Graph> {
  const r = await compileIn(dir, `use "./modules.ts"\n${body}`, { inputs });
  expect(r.text).toBe("");
  return r.graph!;
}

function stepOf(r: Awaited<ReturnType<typeof runGraph>>, id: string) {
  const s = r.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
}

describe("compile and run", () => {
  it("runs a typed fan-out flow and returns the outputs", async () => {
    const g = await compile(
      `
in userId: String
user        = GetUser(userId)
orders      = GetOrders(user.id)
profile     = BuildProfile(user, orders)
greeting    = Concat("hi ${"${user.name}"}", orders[0].sku, 5, true)
out profile, greeting`,
      { userId: "42" },
    );
    const r = await runGraph(g, { root: dir });
    expect(r.ok).toBe(true);
    expect(r.outputs).toEqual({ profile: { name: "user 42", items: 3 }, greeting: "hi user 42+a-42+5+true" });
  });

  it("nested calls become their own steps", async () => {
    const g = await compile('build = BuildProfile(GetUser("1"), GetOrders(GetUser("2").id))\nout build');
    expect(g.steps.map((s) => s.id).sort()).toEqual(["build", "build.1", "build.2", "build.3"]);
    const r = await runGraph(g, { root: dir });
    expect(r.outputs.build).toEqual({ name: "user 1", items: 3 });
  });

  it("constants, lists and records are inlined; an out of a value is materialised", async () => {
    const g = await compile(`
n = 5
name = "x${"${n}"}"
u = GetUser(name)
r = { who: u.name, list: [n, u.id, 1.5], nested: { k: [true] } }
echo = Id(r)
out echo, r`);
    expect(g.steps.map((s) => s.id)).toEqual(["u", "echo", "r"]);
    const r = await runGraph(g, { root: dir });
    const want = { who: "user x5", list: [5, "x5", 1.5], nested: { k: [true] } };
    expect(r.outputs).toEqual({ echo: want, r: want });
  });

  it("retry: a step that fails twice succeeds on its third attempt", async () => {
    const g = await compile('f = Flaky("v") with retry: 3, backoff: 1ms');
    expect(g.steps[0]!.options).toMatchObject({ retries: 3, backoff: { initialMs: 1 } });
    const r = await runGraph(g, { root: dir, random: () => 0 });
    expect(stepOf(r, "f")).toMatchObject({ status: "ok", attempts: 3, value: "v after 3" });
  });

  it("timeout: a step that takes too long fails with a timeout error, and the run does not wait for it", async () => {
    const g = await compile("s = Hangs() with timeout: 50ms");
    const r = await runGraph(g, { root: dir });
    expect(stepOf(r, "s").status).toBe("failed");
    expect(stepOf(r, "s").error?.kind).toBe("timeout");
  });

  it("priority: with one slot, high runs before normal before low", async () => {
    const g = await compile(`
a = Concat("a") with priority: low
b = Concat("b")
c = Concat("c") with priority: high
d = Concat("d") with priority: 5`);
    expect(g.steps.map((s) => s.options.priority)).toEqual([-10, undefined, 10, 5]);
    const starts: string[] = [];
    const r = await runGraph(g, {
      root: dir,
      concurrency: 1,
      onEvent: (e: EngineEvent) => {
        if (e.type === "step-start") starts.push(e.id);
      },
    });
    expect(r.ok).toBe(true);
    expect(starts).toEqual(["c", "d", "b", "a"]);
  });

  it("map: one step per item; a partial consumer gets the successes and a record of each failure", async () => {
    const g = await compile(`
squares = map([1, 2, 3], Square)
summary = Summarize(squares) with partial: true
strict = Id(squares)
plus = map([1, 2], AddTo, 10)
out summary, strict, plus`);
    const r = await runGraph(g, { root: dir });
    expect(r.outputs.summary).toEqual({ ok: [1, 9], failed: [{ index: 1, item: 2, status: "failed" }] });
    expect(stepOf(r, "strict").status).toBe("blocked");
    expect(r.outputs.plus).toEqual([11, 12]);
  });

  it("map with concurrency limits how many items run at once", async () => {
    const g = await compile("t = map([1, 2, 3, 4, 5, 6], Tracked) with concurrency: 2");
    expect(g.limits).toEqual({ Tracked: { concurrency: 2 } });
    expect(g.steps[0]!.action).toMatchObject({ kind: "map", module: "Tracked", item: { kind: "function" } });
    const r = await runGraph(g, { root: dir, concurrency: 8 });
    const values = stepOf(r, "t").value as { n: number; max: number }[];
    expect(values.map((v) => v.n)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Math.max(...values.map((v) => v.max))).toBe(2);
  });

  it("module() validates inputs and results at run time", async () => {
    const g = await compile('a = Lies("x")\nb = Strict(Id(5))');
    const r = await runGraph(g, { root: dir });
    expect(stepOf(r, "a").status).toBe("failed");
    expect(stepOf(r, "a").error?.message).toMatch(
      /Lies returned a value that does not match its output schema/,
    );
    expect(stepOf(r, "b").status).toBe("failed");
    expect(stepOf(r, "b").error?.message).toMatch(/Strict: argument 1 does not match its input schema/);
  });

  it("cpu: true runs the module in a worker thread, loaded by file and export", async () => {
    const g = await compile("h = Heavy(1000)");
    expect(g.steps[0]!.action).toEqual({
      kind: "function",
      thread: true,
      ref: { file: join(dir, "modules.ts"), exportName: "Heavy" },
    });
    const r = await runGraph(g, { root: dir });
    expect(stepOf(r, "h")).toMatchObject({ status: "ok", value: 499500 });
  });

  it("module-level limits and version, and with-level throttle, go to the graph", async () => {
    const g = await compile(
      'a = Limited("x")\nb = GetUser("1") with throttle: 20/s, concurrency: 3, pool: net, cpus: 2, cache: false, estimate: 2s, env: ["HOME"], version: "7"\npool net = 4',
    );
    expect(g.limits).toEqual({
      Limited: { concurrency: 2, rate: { tokens: 50, perMs: 1000 } },
      GetUser: { concurrency: 3, rate: { tokens: 20, perMs: 1000 } },
    });
    expect(g.pools).toEqual({ net: 4 });
    expect(g.steps[0]!.options).toEqual({ version: "3" });
    expect(g.steps[1]!.options).toEqual({
      pool: "net",
      cpus: 2,
      cache: false,
      estimateMs: 2000,
      env: ["HOME"],
      version: "7",
    });
    const r = await runGraph(g, { root: dir });
    expect(r.ok).toBe(true);
  });

  it("inputs are converted by their declared type", async () => {
    const g = await compile(
      `
in n: Int
in x: Float
in flag: Bool
in xs: List<Int>
in f: File
in opt: Optional<String>
in dflt: String = "d"
out_ = Id({ n: n, x: x, flag: flag, xs: xs, opt: opt, dflt: dflt })
file_ = ReadFile(f)
out out_, file_`,
      { n: "42", x: "2.5", flag: "yes", xs: "[1, 2, 3]", f: "in.txt" },
    );
    const r = await runGraph(g, { root: dir });
    expect(r.outputs.out_).toEqual({ n: 42, x: 2.5, flag: true, xs: [1, 2, 3], opt: null, dflt: "d" });
    expect(r.outputs.file_).toBe("in.txt:64");
  });
});

describe("commands", () => {
  it("exec runs argv without a shell: files in, outputs out, lists spread", async () => {
    const g = await compile(`
words = ["one", "two"]
copy = exec("cp", file("in.txt"), output("out/copy.txt"))
echo = exec("echo", words, 3, copy)
out copy, echo`);
    const r = await runGraph(g, { root: dir });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(dir, "out/copy.txt"), "utf8")).toBe("hello\n");
    expect(r.outputs.copy).toMatchObject({ $file: "out/copy.txt" });
    expect(r.outputs.echo).toBe("one two 3 out/copy.txt");
  });

  it("sh quotes every interpolated value: an injection attempt stays one inert word", async () => {
    mkdirSync(join(dir, "x"), { recursive: true });
    const g = await compile(
      `
in evil: String
line = sh("printf '[%s]' ${"${evil}"} > ${'${output("out/evil.txt")}'}")
out line`,
      { evil: "; rm -rf x; touch pwned" },
    );
    const step = g.steps.find((s) => s.id === "line")!;
    expect(step.action).toEqual({ kind: "process", shell: true });
    expect(step.inputs).toEqual([
      {
        kind: "concat",
        quote: "shell",
        parts: [
          // Only template text is raw; the engine quotes every other part, literal or not.
          { kind: "lit", value: "printf '[%s]' ", raw: true },
          { kind: "lit", value: "; rm -rf x; touch pwned" },
          { kind: "lit", value: " > ", raw: true },
          { kind: "output", path: "out/evil.txt" },
        ],
      },
    ]);
    const r = await runGraph(g, { root: dir });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(dir, "out/evil.txt"), "utf8")).toBe("[; rm -rf x; touch pwned]");
    expect(existsSync(join(dir, "x"))).toBe(true);
    expect(existsSync(join(dir, "pwned"))).toBe(false);
  });

  it("sh quotes constants, lists and step values alike", async () => {
    const g = await compile(`
bad = "$(touch pwned2)"
list = ["a b", "'c'"]
u = Id("; touch pwned3")
line = sh("printf '[%s]' ${"${bad}"} ${"${list}"} ${"${u}"} 7")
out line`);
    const r = await runGraph(g, { root: dir });
    expect(r.outputs.line).toBe("[$(touch pwned2)][a b]['c'][; touch pwned3][7]");
    expect(existsSync(join(dir, "pwned2"))).toBe(false);
    expect(existsSync(join(dir, "pwned3"))).toBe(false);
  });

  it("sh interpolates step values, files and globs", async () => {
    const g = await compile(`
u = GetUser("7")
cat = sh("cat ${'${glob("data/*.csv")}'} ${'${file("in.txt")}'} && echo ${"${u.name}"}")
out cat`);
    const r = await runGraph(g, { root: dir });
    expect(r.outputs.cat).toBe("abhello\nuser 7");
  });

  it("compiles C in parallel, links, and writes an aggregate file", async () => {
    const d = project({
      "hello.c":
        '#include <stdio.h>\nvoid world(void);\nint main(void) { printf("hello "); world(); return 0; }\n',
      "world.c": '#include <stdio.h>\nvoid world(void) { printf("world\\n"); }\n',
    });
    const src = `
hello_o = exec("cc", "-c", file("hello.c"), "-o", output("build/hello.o"))
world_o = exec("cc", "-c", file("world.c"), "-o", output("build/world.o"))
app     = exec("cc", hello_o, world_o, "-o", output("build/app"))
stage   = sh("./${"${app}"} > ${'${output("build/stage.txt")}'}")
out stage`;
    const c = await compileIn(d, src);
    expect(c.text).toBe("");
    const r = await runGraph(c.graph!, { root: d });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(d, "build/stage.txt"), "utf8")).toBe("hello world\n");
    const start = (id: string) => stepOf(r, id).startMs!;
    const end = (id: string) => stepOf(r, id).endMs!;
    expect(start("hello_o")).toBeLessThan(end("world_o"));
    expect(start("world_o")).toBeLessThan(end("hello_o"));
    expect(start("app")).toBeGreaterThanOrEqual(Math.max(end("hello_o"), end("world_o")));
  });
});
