import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";
import type { EngineEvent } from "../../src/engine/events.js";
import type { RunSummary } from "../../src/engine/result.js";
import { eventToJson, formatJsonLine, JsonLinesReporter, toJsonSafe } from "../../src/reporters/index.js";
import { MemoryStream, mixedFlow } from "./helpers.js";

function parseLines(text: string): Record<string, any>[] {
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l));
}

/** The event with its value (a step-end's) or outputs (a run-end's) replaced by its toJsonSafe copy. */
function withSafeCopy(e: EngineEvent): EngineEvent {
  if (e.type === "run-end") {
    return {
      ...e,
      result: { ...e.result, outputs: toJsonSafe(e.result.outputs) as Record<string, unknown> },
    };
  }
  if (e.type === "step-end" && "value" in e.result) {
    return { ...e, result: { ...e.result, value: toJsonSafe(e.result.value) } } as EngineEvent;
  }
  return e;
}

describe("json-lines reporter", () => {
  it("writes one parseable object per event, with every step-end and the output chunks", async () => {
    const { t, targets } = mixedFlow();
    const out = new MemoryStream();
    const result = await t.run(targets, {
      liveOutput: true,
      concurrency: 4,
      onEvent: new JsonLinesReporter(out).onEvent,
    });
    const events = parseLines(out.text());
    expect(events[0]).toMatchObject({ type: "run-start", t: 0, concurrency: 4 });
    expect(events[0]!.steps.map((s: any) => s.id).sort()).toEqual([
      "compile",
      "flaky",
      "link",
      "load",
      "report",
    ]);
    expect(events.at(-1)).toMatchObject({
      type: "run-end",
      ok: false,
      summary: { failed: 1, blocked: 1, ok: 3 },
    });

    const ends = events.filter((e) => e.type === "step-end");
    expect(ends.map((e) => e.id).sort()).toEqual(result.steps.map((s) => s.id).sort());
    const compile = ends.find((e) => e.id === "compile")!;
    expect(compile).toMatchObject({
      status: "failed",
      cached: false,
      attempts: 1,
      error: { kind: "exit", exitCode: 3, message: "exited with code 3" },
      command: [process.execPath, "-e", expect.stringContaining("process.exit(3)")],
    });
    expect(compile.outputTail).toContain("my file.c:3: error: boom");
    expect(compile.durationMs).toBeCloseTo(compile.endMs - compile.startMs, 6);
    expect(ends.find((e) => e.id === "link")).toMatchObject({ status: "blocked", blockedBy: "compile" });
    expect(ends.find((e) => e.id === "report")).toMatchObject({ status: "ok", value: "n=3" });

    const chunks = events.filter((e) => e.type === "step-output" && e.id === "compile");
    expect(chunks.map((e) => e.chunk).join("")).toContain("line 17\n");
    expect(chunks.some((e) => e.stream === "stderr")).toBe(true);

    const retries = events.filter((e) => e.type === "step-retry");
    expect(retries).toEqual([
      expect.objectContaining({
        id: "flaky",
        attempt: 1,
        delayMs: 1,
        error: expect.objectContaining({ kind: "threw", message: "flaky failure 1" }),
      }),
      expect.objectContaining({ id: "flaky", attempt: 2, delayMs: 2 }),
    ]);
    // Times never go backwards.
    for (let i = 1; i < events.length; i++) expect(events[i]!.t).toBeGreaterThanOrEqual(events[i - 1]!.t);
  });

  it("renders values that JSON cannot hold, without throwing", async () => {
    const t = flow();
    const circular: Record<string, unknown> = { name: "loop" };
    circular.self = circular;
    const weird = t.step("weird", () => ({
      big: 12345678901234567890n,
      nan: NaN,
      inf: -Infinity,
      fn: function helper() {},
      sym: Symbol("s"),
      undef: undefined,
      list: [undefined, 1],
      map: new Map<unknown, unknown>([["k", 1n]]),
      set: new Set([1, 2]),
      bytes: new Uint8Array(3),
      date: new Date(0),
      err: new TypeError("bad"),
      circular,
      get broken(): never {
        throw new Error("getter exploded");
      },
      custom: { toJSON: () => ({ as: "json" }) },
    }));
    const throwsToJSON = t.step("throwsToJSON", () => ({
      toJSON() {
        throw new Error("nope");
      },
    }));
    const out = new MemoryStream();
    const r = await t.run([weird, throwsToJSON], { onEvent: new JsonLinesReporter(out).onEvent });
    expect(r.ok).toBe(true);
    const events = parseLines(out.text());
    const value = events.find((e) => e.type === "step-end" && e.id === "weird")!.value;
    expect(value).toEqual({
      big: "12345678901234567890n",
      nan: "NaN",
      inf: "-Infinity",
      list: [null, 1],
      map: { $map: [["k", "1n"]] },
      set: { $set: [1, 2] },
      bytes: { $bytes: 3 },
      date: "1970-01-01T00:00:00.000Z",
      err: { $error: "TypeError", message: "bad" },
      circular: { name: "loop", self: "[Circular]" },
      broken: "[Unserializable: getter exploded]",
      custom: { as: "json" },
    });
    expect(events.find((e) => e.id === "throwsToJSON" && e.type === "step-end")!.value).toBe(
      "[Unserializable: nope]",
    );
    // The run's outputs are rendered the same way.
    expect(events.at(-1)!.outputs.weird.big).toBe("12345678901234567890n");
  });

  it("replaces huge values by their size", () => {
    const out = new MemoryStream();
    const r = new JsonLinesReporter(out, { maxValueBytes: 100 });
    r.onEvent({
      type: "step-end",
      t: 1,
      result: { id: "x", module: "m", status: "ok", attempts: 1, value: "y".repeat(1000) },
    });
    expect(JSON.parse(out.text())).toMatchObject({ id: "x", value: { $truncated: true, bytes: 1002 } });
  });

  it("toJsonSafe leaves plain data as it is", () => {
    const data = { a: [1, "two", { three: true }], b: null, c: { $file: "x.txt", digest: "abc" } };
    expect(toJsonSafe(data)).toEqual(data);
    expect(toJsonSafe(undefined)).toBeNull();
    // Shared (not circular) references are repeated, not flagged.
    const shared = { v: 1 };
    expect(toJsonSafe([shared, shared])).toEqual([{ v: 1 }, { v: 1 }]);
  });
  it("writes a line as the JSON of its event object, plain values serialized once and odd ones made safe", () => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const throwing = {
      get boom(): never {
        throw new Error("no");
      },
    };
    const holes: unknown[] = [1];
    holes[2] = 3; // a hole at 1
    const values: unknown[] = [
      "text",
      42,
      -0,
      null,
      undefined,
      { $file: "out/a.txt", digest: "ab" },
      [1, "two", { three: [true, null] }],
      Object.assign(Object.create(null), { bare: 1 }),
      { nested: { nan: NaN, inf: -Infinity } },
      { big: 12345678901234567890n },
      new Map([["k", 1]]),
      new Set([1]),
      new Date(0),
      { toJSON: () => "custom" },
      { keep: 1, drop: undefined, fn: () => 1 },
      holes,
      cyclic,
      throwing,
      "y".repeat(200),
      { long: "z".repeat(200) },
    ];
    const events: EngineEvent[] = values.flatMap((value): EngineEvent[] => [
      { type: "step-end", t: 1, result: { id: "x", module: "m", status: "ok", attempts: 1, value } },
      {
        type: "run-end",
        t: 2,
        result: {
          ok: true,
          cancelled: false,
          steps: [],
          outputs: { a: value } as Record<string, unknown>,
          // Written as it is: no value of a step in it.
          summary: {} as RunSummary,
        },
      } as EngineEvent,
    ]);
    events.push({
      type: "step-end",
      t: 3,
      result: {
        id: "f",
        module: "m",
        status: "failed",
        attempts: 1,
        error: { kind: "exit", message: "1", exitCode: 1 },
      },
    });
    events.push({ type: "warning", t: 4, message: "careful" });
    for (const opts of [{}, { maxValueBytes: 100 }, { values: false }]) {
      for (const e of events) {
        const line = formatJsonLine(e, opts);
        expect(line).toBe(JSON.stringify(eventToJson(e, opts)));
        // The reference: the same event with its value copied by toJsonSafe first, as every line was made.
        expect(line).toBe(JSON.stringify(eventToJson(withSafeCopy(e), opts)));
        JSON.parse(line);
      }
    }
  });
});
