/**
 * A flow loaded once and run many times (`loadFlow`): per-run inputs, validated against the `in` types;
 * concurrent runs with their own results, events and cancellation; shared module limits; the cache.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flow, InvalidFlowError, InvalidInputsError, loadFlow, type EngineEvent } from "../../src/index.js";
import { cleanup, project } from "../language/helpers.js";

afterAll(cleanup);

const MODULES = `
let running = 0;
export let maxRunning = 0;
export const calls = [];
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); reject(new Error("aborted")); });
});
export async function Greet(name, times) {
  calls.push(name);
  await sleep(20, this.signal);
  return (name + "! ").repeat(times).trim();
}
export async function Limited(x) {
  running++;
  maxRunning = Math.max(maxRunning, running);
  try { await sleep(30, this.signal); return x; } finally { running--; }
}
export function MaxRunning() { return maxRunning; }
export async function Hang(marker) {
  const { writeFileSync } = await import("node:fs");
  await new Promise((resolve) => this.signal.addEventListener("abort", resolve));
  writeFileSync(marker, "cancelled");
  throw new Error("cancelled");
}
export function Size(f) { return f.digest.length > 0 ? f.$file : "?"; }
`;

const FLOW = `
use "./m.mjs"
in name: String
in times: Int = 2
in shout: String = "\${name}"
in note: Optional<String>
greeting = Greet(name, times)
echoed = Greet(shout, 1)
out greeting, echoed, note
`;

describe("loadFlow", () => {
  it("compiles once and runs concurrently with each run's own inputs, results and events", async () => {
    const root = project({ "m.mjs": MODULES, "greet.flow": FLOW });
    const f = await loadFlow(join(root, "greet.flow"));
    try {
      expect(f.name).toBe("greet");
      expect(f.parameters.map((p) => [p.name, p.typeText, p.required])).toEqual([
        ["name", "String", true],
        ["times", "Int", false],
        ["shout", "String", false],
        ["note", "Optional<String>", false],
      ]);
      expect(f.outputs.map((o) => [o.id, o.type?.kind])).toEqual([
        // Plain functions are untyped; modules made with module() have their schemas' types.
        ["greeting", "Any"],
        ["echoed", "Any"],
        ["note", "Optional"],
      ]);
      const events: EngineEvent[][] = [[], [], []];
      const runs = await Promise.all([
        f.run({ name: "ada" }, { onEvent: (e) => events[0]!.push(e) }),
        f.run({ name: "bob", times: 3, note: "hi" }, { onEvent: (e) => events[1]!.push(e) }),
        // Strings convert as --input values do.
        f.run({ name: "cy", times: "1", shout: "CY" }, { onEvent: (e) => events[2]!.push(e) }),
      ]);
      expect(runs.map((r) => r.outputs)).toEqual([
        { greeting: "ada! ada!", echoed: "ada!", note: null },
        { greeting: "bob! bob! bob!", echoed: "bob!", note: "hi" },
        { greeting: "cy!", echoed: "CY!", note: null },
      ]);
      for (const e of events) {
        expect(e.filter((x) => x.type === "step-end")).toHaveLength(3);
        expect(e.filter((x) => x.type === "run-end")).toHaveLength(1);
      }
    } finally {
      await f.close();
    }
  });

  it("refuses bad inputs before anything runs, naming each", async () => {
    const root = project({ "m.mjs": MODULES, "greet.flow": FLOW });
    const f = await loadFlow(join(root, "greet.flow"), { fixed: { note: "fixed" } });
    try {
      expect(f.parameters.map((p) => p.name)).toEqual(["name", "times", "shout"]);
      const checked = f.checkInputs({ times: 1.5, nmae: "x", note: "y" });
      expect(checked.ok).toBe(false);
      const problems = checked.ok ? [] : checked.problems;
      expect(problems).toEqual([
        { input: "nmae", message: "unknown input; the inputs are name, times, shout" },
        { input: "note", message: "note was fixed when the flow was loaded; a run cannot change it" },
        { input: "name", message: "required (String)" },
        { input: "times", message: "expected a whole number, got 1.5 (times is Int)" },
      ]);
      await expect(f.run({ name: 1 } as never)).rejects.toThrow(InvalidInputsError);
      await expect(f.run([] as never)).rejects.toThrow(/inputs must be an object/);
      const r = await f.run({ name: "z" });
      expect(r.outputs).toEqual({ greeting: "z! z!", echoed: "z!", note: "fixed" });
    } finally {
      await f.close();
    }
  });

  it("says at load time when a per-run input is needed before the run", async () => {
    const root = project({
      "m.mjs": MODULES,
      "bad.flow":
        'in dir: String\nx = sh("echo > ${output("${dir}/x.txt")}")\ny = sh("echo") with retry: n\nin n: Int = 1\n',
    });
    const err = await loadFlow(join(root, "bad.flow")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidFlowError);
    const text = (err as Error).message;
    expect(text).toContain(
      "an output path must be known when the flow is loaded, but input dir is given per run",
    );
    expect(text).toContain("tributary serve --input dir=...");
    // Fixed inputs are known: the same flow loads.
    const ok = await loadFlow(join(root, "bad.flow"), { fixed: { dir: "out", n: 2 } });
    expect(ok.parameters).toEqual([]);
    expect((await ok.run()).ok).toBe(true);
    expect(existsSync(join(root, "out/x.txt"))).toBe(true);
    await ok.close();
  });

  it("shares a module's concurrency limit across concurrent runs", async () => {
    const root = project({
      "m.mjs": MODULES,
      "lim.flow":
        'use "./m.mjs"\nin x: Int\na = Limited(x) with concurrency: 2\nb = Limited(x)\nc = Limited(x)\nout a, b, c\n',
      "max.flow": 'use "./m.mjs"\nm = MaxRunning()\nout m\n',
    });
    const f = await loadFlow(join(root, "lim.flow"));
    const max = await loadFlow(join(root, "max.flow"));
    try {
      const runs = await Promise.all([1, 2, 3, 4].map((x) => f.run({ x })));
      expect(runs.every((r) => r.ok)).toBe(true);
      // Four runs of three steps each: twelve calls, never more than two at once.
      expect((await max.run()).outputs).toEqual({ m: 2 });
    } finally {
      await Promise.all([f.close(), max.close()]);
    }
  });

  it("cancels one run's running steps without touching the others", async () => {
    const root = project({
      "m.mjs": MODULES,
      "hang.flow": 'use "./m.mjs"\nin marker: String\nh = Hang(marker)\nout h\n',
    });
    const f = await loadFlow(join(root, "hang.flow"));
    try {
      const ac = new AbortController();
      const other = new AbortController();
      const marker = join(root, "cancelled.txt");
      const mine = f.run({ marker }, { signal: ac.signal });
      const theirs = f.run({ marker: join(root, "other.txt") }, { signal: other.signal });
      setTimeout(() => ac.abort(), 50);
      const r = await mine;
      expect(r.cancelled).toBe(true);
      expect(r.ok).toBe(false);
      expect(readFileSync(marker, "utf8")).toBe("cancelled");
      // The other run is still running.
      expect(existsSync(join(root, "other.txt"))).toBe(false);
      other.abort();
      expect((await theirs).cancelled).toBe(true);
      expect(existsSync(join(root, "other.txt"))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it("caches per-run results by content when the cache is on", async () => {
    const root = project({ "m.mjs": MODULES, "greet.flow": FLOW });
    const f = await loadFlow(join(root, "greet.flow"), { cache: {} });
    try {
      const first = await f.run({ name: "ada" });
      expect(first.summary.cached).toBe(0);
      const again = await f.run({ name: "ada" });
      expect(again.outputs).toEqual(first.outputs);
      expect(again.summary.cached).toBeGreaterThan(0);
      const other = await f.run({ name: "bea" });
      expect(other.outputs.greeting).toBe("bea! bea!");
    } finally {
      await f.close();
    }
  });

  it("takes file inputs inside the project only", async () => {
    const root = project({
      "m.mjs": MODULES,
      "data.txt": "hello\n",
      "size.flow": 'use "./m.mjs"\nin f: File\ns = Size(f)\nout s\n',
    });
    const f = await loadFlow(join(root, "size.flow"));
    try {
      expect((await f.run({ f: "data.txt" })).outputs).toEqual({ s: "data.txt" });
      for (const bad of ["/etc/passwd", "../x.txt", "a/../../x"]) {
        const c = f.checkInputs({ f: bad });
        expect(c.ok ? "" : c.problems[0]!.message).toBe(
          `${JSON.stringify(bad)} is not a path inside the project`,
        );
      }
    } finally {
      await f.close();
    }
  });

  it("runs a graph built with the TS API many times", async () => {
    const t = flow();
    let n = 0;
    const a = t.step("a", () => ++n);
    t.step("b", (x: number) => x * 10, a);
    const f = await loadFlow({ graph: t.graph(), name: "tens" });
    try {
      expect(f.name).toBe("tens");
      const runs = await Promise.all([f.run(), f.run()]);
      expect(runs.map((r) => r.outputs.b).sort()).toEqual([10, 20]);
    } finally {
      await f.close();
    }
  });

  it("rejects a flow with errors listing them", async () => {
    const root = project({ "x.flow": "a = Nope(1)\n" });
    writeFileSync(join(root, "y.flow"), "");
    await expect(loadFlow(join(root, "x.flow"))).rejects.toThrow(/unknown module Nope|Nope/);
  });
});
