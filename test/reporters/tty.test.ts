import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";
import type { EngineEvent } from "../../src/index.js";
import { makeColors, TtyReporter, visibleWidth, type TtyOptions } from "../../src/reporters/index.js";
import { MemoryStream, mixedFlow, sleep, Terminal } from "./helpers.js";

/** A reporter writing into an emulated terminal; `feed()` passes new writes on to the terminal. */
function setup(opts: TtyOptions & { isTTY?: boolean } = {}) {
  const out = new MemoryStream({ columns: opts.columns ?? 100, rows: opts.rows ?? 30, isTTY: opts.isTTY });
  const term = new Terminal();
  let seen = 0;
  const reporter = new TtyReporter(out, { intervalMs: 0, ...opts });
  const feed = (): string => {
    for (; seen < out.writes.length; seen++) term.write(out.writes[seen]!);
    return term.text();
  };
  return { out, term, reporter, feed };
}

const isBar = (l: string) => /[█░]/.test(l);

describe("tty reporter", () => {
  it("redraws in place and prints failures above the live area as they happen", async () => {
    const { reporter, feed } = setup();
    const t = flow();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = t.step("slow", async () => (await gate, 1));
    const compile = t.exec("compile", [
      process.execPath,
      "-e",
      "for (let i = 1; i <= 30; i++) console.log('line ' + i); console.error('boom'); process.exit(2)",
    ]);
    const dep = t.step("dep", (s: string) => s.length, compile);
    let during = "";
    const onEvent = (e: EngineEvent) => {
      reporter.onEvent(e);
      if (e.type === "step-end" || e.type === "step-start") reporter.render();
      if (e.type === "step-end" && e.result.id === "dep") {
        during = feed();
        release();
      }
    };
    const r = await t.run([slow, dep], { concurrency: 4, onEvent });
    expect(r.summary.failed).toBe(1);

    // While `slow` still ran: the failure and what it blocked are printed, the live area below them.
    const lines = during.split("\n");
    const failAt = lines.findIndex((l) => l.startsWith("✗ compile: exit code 2"));
    const blockedAt = lines.indexOf("⊘ 1 blocked by compile: dep");
    const barAt = lines.findIndex(isBar);
    expect(failAt).toBeGreaterThanOrEqual(0);
    expect(lines[failAt + 1]).toContain(`$ ${process.execPath} -e`);
    expect(lines).toContain("  │ boom");
    expect(lines).toContain("  │ line 30");
    expect(lines).not.toContain("  │ line 10");
    expect(blockedAt).toBeGreaterThan(failAt);
    expect(barAt).toBeGreaterThan(blockedAt);
    expect(lines[barAt]).toMatch(/ 2\/3 {2}0 ok · 1 failed · 1 blocked · 1 running/);
    expect(lines[barAt + 1]).toMatch(/^ {2}› slow {2}\d+\.\ds$/);
    // Only one live area on screen: earlier frames were erased, not scrolled away.
    expect(lines.filter(isBar)).toHaveLength(1);
    expect(lines.length).toBe(barAt + 2);

    // At the end the live area is gone, replaced by the summary; the failure was printed once.
    const final = feed();
    expect(final.split("\n").filter(isBar)).toEqual([]);
    expect(final.match(/│ boom/g)).toHaveLength(1);
    expect(final).toMatch(/✗ FAILED {2}1 ok · 0 cached · 1 failed · 1 blocked · 0 cancelled {2}in /);
    expect(final.indexOf("⊘ 1 blocked by compile: dep")).toBeLessThan(final.indexOf("✗ FAILED"));
  });

  it("caps the running list to the terminal, cuts lines to its width, and uses the injected clock", async () => {
    let now = 1000;
    const { reporter, feed } = setup({ columns: 40, rows: 6, clock: () => now });
    const t = flow();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ids = Array.from({ length: 20 }, (_, i) => `a-rather-long-step-name-${String(i).padStart(2, "0")}`);
    for (const id of ids) t.step(id, async () => (await gate, id));
    let started = 0;
    let frame = "";
    const r = await t.run(undefined, {
      concurrency: 20,
      onEvent: (e) => {
        reporter.onEvent(e);
        if (e.type === "step-start" && ++started === 20) {
          now += 2500;
          reporter.render();
          frame = feed();
          release();
        }
      },
    });
    expect(r.ok).toBe(true);
    const lines = frame.split("\n");
    // rows - 1 at most: the header, 3 steps and the rest counted.
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^█*░+ 0\/20 {2}0 ok · 20 running/);
    expect(lines[4]).toBe("  … and 17 more");
    for (const l of lines.slice(1, 4)) expect(l).toMatch(/^ {2}› a-rather-lon… {2}2\.5s$/);
    for (const l of frame.split("\n")) expect(visibleWidth(l)).toBeLessThanOrEqual(39);
    const final = feed();
    expect(final.split("\n").every((l) => visibleWidth(l) <= 39)).toBe(true);
    expect(final).toContain("20 ok");
  });

  it("with verbose, prints output live prefixed by the step id and does not repeat it on failure", async () => {
    const { reporter, feed } = setup({ verbose: true });
    const { t, targets } = mixedFlow();
    await t.run(targets, { liveOutput: true, concurrency: 4, onEvent: reporter.onEvent });
    const text = feed();
    expect(text).toContain("compile │ compiling my file.c");
    expect(text).toContain("compile │ line 30");
    expect(text).toContain("compile │ my file.c:3: error: boom");
    expect(text).toMatch(/^↻ flaky retry 2\/4 in 1ms: flaky failure 1$/m);
    expect(text).toMatch(/^✓ report ok/m);
    expect(text).toContain("✗ compile: exit code 3");
    expect(text).not.toContain("  │ line 30");
  });

  it("keeps step output from moving the cursor", async () => {
    const { reporter, feed } = setup({ verbose: true });
    const t = flow();
    t.exec("noisy", [
      process.execPath,
      "-e",
      String.raw`process.stdout.write('\x1b[2J\x1b[H10%\r50%\r100%\n\x1b[31mred\x1b[0m\x1b[5A up\n')`,
    ]);
    await t.run(undefined, { liveOutput: true, onEvent: reporter.onEvent });
    const text = feed();
    expect(text).toContain("noisy │ 100%\n");
    expect(text).toContain("noisy │ red up\n");
  });

  it("draws with the default timer and restores the cursor on a real terminal", async () => {
    const { reporter, feed, out } = setup({ intervalMs: undefined, isTTY: true, colors: makeColors(true) });
    const t = flow();
    const a = t.step("a", async () => (await sleep(150), 1));
    t.step("b", async (x: number) => (await sleep(150), x + 1), a);
    await t.run(undefined, { liveOutput: true, onEvent: reporter.onEvent });
    const raw = out.text();
    expect(raw.startsWith("\x1b[?2026h\x1b[?25l") || raw.startsWith("\x1b[?25l")).toBe(true);
    expect(raw.endsWith("\x1b[?25h")).toBe(true);
    const final = feed();
    expect(final.split("\n").filter(isBar)).toEqual([]);
    expect(final).toContain("✓ done");
    expect(final).toContain("2 ok");
  });

  it("closing before the run ends removes the live area and stops printing", async () => {
    const { reporter, feed, out } = setup();
    const t = flow();
    const a = t.step("a", async () => (await sleep(5), 1));
    t.step("b", (x: number) => x + 1, a);
    await t.run(undefined, {
      onEvent: (e) => {
        reporter.onEvent(e);
        if (e.type === "step-start") {
          reporter.onEvent({ type: "warning", t: e.t, message: "disk almost full" });
          reporter.render();
          reporter.close();
        }
      },
    });
    const writes = out.writes.length;
    expect(feed()).toBe("warning: disk almost full");
    reporter.onEvent({ type: "warning", t: 99, message: "late" });
    expect(out.writes.length).toBe(writes);
  });
});
