import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../src/engine/events.js";
import type { StepResult } from "../../src/engine/result.js";
import { LiveOutput, PlainReporter, TtyReporter } from "../../src/reporters/index.js";
import { MemoryStream, Terminal } from "./helpers.js";

const LIMITS = { lines: 10, chars: 1000, windowMs: 1000, maxLine: 50 };

function collect(limits = LIMITS) {
  const batches: { id: string; lines: string[] }[] = [];
  const live = new LiveOutput((id, lines) => batches.push({ id, lines }), limits);
  return { live, batches, lines: () => batches.flatMap((b) => b.lines) };
}

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join("");

describe("live output", () => {
  it("hands on whole lines, a chunk's lines together, the last partial line when the step ends", () => {
    const { live, batches, lines } = collect();
    live.push("a", "one\ntw", 0);
    live.push("a", "o\nthr", 1);
    live.push("b", "other\n", 1);
    live.push("a", "ee", 2);
    expect(live.flush("a")).toBe(0);
    expect(batches).toEqual([
      { id: "a", lines: ["one"] },
      { id: "a", lines: ["two"] },
      { id: "b", lines: ["other"] },
      { id: "a", lines: ["three"] },
    ]);
    expect(lines()).not.toContain("");
  });

  it("shows at most the budget per window and says how many bytes it did not show", () => {
    const { live, lines } = collect();
    const first = numbered(1, 100);
    live.push("a", first, 0);
    // Within the same window: only counted.
    live.push("a", numbered(101, 200), 999);
    expect(lines()).toEqual(numbered(1, 10).trimEnd().split("\n"));
    // The next window: the notice first, then the budget again.
    live.push("a", numbered(201, 300), 1000);
    const skipped = Buffer.byteLength(numbered(11, 200));
    expect(lines()[10]).toBe(
      `… ${(skipped / 1000).toFixed(1)} kB not shown (live output shows at most 10 lines a second per step; \`tributary run --json\` prints all of it)`,
    );
    expect(lines().slice(11)).toEqual(numbered(201, 210).trimEnd().split("\n"));
    // Said once: later notices are short, and the step's end says what its last window left out.
    expect(live.flush("a")).toBe(skipped + Buffer.byteLength(numbered(211, 300)));
    expect(lines().at(-1)).toBe(`… ${Buffer.byteLength(numbered(211, 300))} B not shown`);
  });

  it("cuts a line without end, and resumes at the start of a line after skipping", () => {
    const { live, lines } = collect();
    const x = "x".repeat(10_000);
    live.push("a", x, 0);
    live.push("a", x + "\nnext\n", 1);
    expect(lines()).toEqual(["x".repeat(50) + "…", "next"]);
    // The budget runs out in the middle of a line: the rest of that line is not shown later.
    const many = numbered(1, 20);
    live.push("a", many + "half of a li", 2);
    live.push("a", "ne\nwhole\n", 1000);
    const shown = lines();
    expect(shown.slice(2, 10)).toEqual(numbered(1, 8).trimEnd().split("\n"));
    expect(shown.at(-2)).toMatch(/^… [\d.]+ kB not shown \(live output shows at most 10 lines/);
    expect(shown.at(-1)).toBe("whole");
    expect(live.flush("a")).toBe(
      2 * 10_000 - 50 + 1 + Buffer.byteLength(numbered(9, 20) + "half of a line\n"),
    );
  });

  it("costs the same per byte however long the output: a 64 MB flood is counted, not split", () => {
    const { live, lines } = collect({ lines: 1000, chars: 128 * 1024, windowMs: 1000, maxLine: 4096 });
    const chunk = "y\n".repeat(32 * 1024);
    // 1000 chunks of 64 KiB, all in one window: 1000 lines shown, the rest one byte count each.
    for (let i = 0; i < 1000; i++) live.push("a", chunk, 0);
    expect(lines()).toHaveLength(1000);
    expect(live.flush("a")).toBe(1000 * chunk.length - 2 * 1000);
  });
});

function stepEnd(id: string, status: StepResult["status"], outputTail?: string): EngineEvent {
  const result: StepResult = {
    id,
    module: "sh",
    status,
    attempts: 1,
    startMs: 0,
    endMs: 5,
    command: ["sh", "-c", "flood"],
    outputTail,
    error: status === "failed" ? { kind: "exit", message: "exited with code 1", exitCode: 1 } : undefined,
  };
  return { type: "step-end", t: 5, result };
}

describe("reporters with live output", () => {
  it("plain: one write per chunk, not per line, within the budget", () => {
    const out = new MemoryStream();
    const r = new PlainReporter(out, { verbose: true, liveLimits: LIMITS });
    r.onEvent({ type: "step-output", t: 0, id: "a", stream: "stdout", chunk: numbered(1, 5) });
    expect(out.writes).toEqual([
      numbered(1, 5)
        .replace(/^/gm, "a | ")
        .replace(/a \| $/, ""),
    ]);
    r.onEvent({ type: "step-output", t: 1, id: "a", stream: "stdout", chunk: numbered(6, 1000) });
    expect(out.writes).toHaveLength(2);
    expect(out.writes[1]!.split("\n")).toHaveLength(6);
    r.onEvent(stepEnd("a", "ok"));
    expect(out.text()).toMatch(/^a \| … [\d.]+ kB not shown \(live output shows at most 10 lines/m);
  });

  it("tty: a failed step whose live output was cut gets its output tail in the failure report", () => {
    const out = new MemoryStream({ columns: 200, rows: 30, isTTY: true });
    const r = new TtyReporter(out, { verbose: true, liveLimits: LIMITS, intervalMs: 0, clock: () => 0 });
    r.onEvent({ type: "run-start", t: 0, steps: [{ id: "a", module: "sh" }], concurrency: 1 });
    r.onEvent({ type: "step-output", t: 1, id: "a", stream: "stderr", chunk: numbered(1, 50) });
    r.onEvent(stepEnd("a", "failed", "line 49\nline 50\n"));
    r.render();
    const term = new Terminal();
    term.write(out.text());
    const text = term.text();
    expect(text).toContain("a │ line 10\n");
    expect(text).not.toContain("a │ line 11\n");
    expect(text).toMatch(/a │ … [\d.]+ B not shown/);
    expect(text).toContain("│ line 50");
    r.close();
  });
});
