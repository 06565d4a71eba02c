/** Restored steps count in the progress of both live reporters: in done/total, and as "N cached". */
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../src/index.js";
import { PlainReporter, TtyReporter } from "../../src/reporters/index.js";
import { MemoryStream, Terminal } from "./helpers.js";

const steps = ["a", "b", "c"].map((id) => ({ id, module: "sh" }));
const cached = (id: string, t: number): EngineEvent => ({
  type: "step-end",
  t,
  result: { id, module: "sh", status: "ok", attempts: 0, cached: true },
});

describe("progress of a run with restored steps", () => {
  it("tty: the bar counts them as done and says how many", () => {
    const out = new MemoryStream({ columns: 100, rows: 30, isTTY: true });
    const reporter = new TtyReporter(out, { intervalMs: 0, clock: () => 0 });
    reporter.onEvent({ type: "run-start", t: 0, steps, concurrency: 2 });
    reporter.onEvent(cached("a", 1));
    reporter.onEvent(cached("b", 2));
    reporter.onEvent({ type: "step-start", t: 3, id: "c", attempt: 1 });
    reporter.render();
    const term = new Terminal();
    term.write(out.text());
    expect(term.text()).toMatch(/ 2\/3 {2}0 ok · 2 cached · 1 running/);
    reporter.close();
  });

  it("plain: a step's line says how many were restored before it", () => {
    const out = new MemoryStream();
    const reporter = new PlainReporter(out);
    reporter.onEvent({ type: "run-start", t: 0, steps, concurrency: 2 });
    reporter.onEvent(cached("a", 1));
    reporter.onEvent(cached("b", 2));
    reporter.onEvent({
      type: "step-end",
      t: 10,
      result: { id: "c", module: "sh", status: "ok", attempts: 1, startMs: 3, endMs: 10 },
    });
    expect(out.text()).toMatch(/^\[3\/3\] c ok 7ms \(2 cached\)$/m);
    // The restored steps themselves get no line.
    expect(out.text()).not.toMatch(/\] a /);
  });
});
